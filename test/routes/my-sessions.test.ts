import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Env } from '../../fastify.config.js'
import { deriveKey } from '../../src/crypto/identifier-hash.js'
import { storageKey } from '../../src/session/session-id.js'
import { ALICE, COOKIE_NAME, SESSION_SECRET, buildTestApp, login, startTestIdp, testEnv, type LoggedIn } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { REDIS_URL, sharedRedis } from '../helpers/shared-redis.js'

const CSRF = { 'x-csrf': '1' }
const BOB = { username: 'bob@corp.example', password: 'bob-password-1', realm: 'employees' }
const ALICE_ID = 'auth0|alice0000000000000000001'
const MINUTE = 60_000

const { prefix: PREFIX } = sharedRedis() // the gateway under test writes under PREFIX; its keys are deleted at the end

const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })
t.afterEach(() => { idp.clearFaults() })

let apps = 0
/** The store's variables: memory (default), or Redis under a prefix of this file's own. */
function storeEnv (kind: 'memory' | 'redis'): Env {
  if (kind === 'memory') return {}
  return {
    SESSION_STORE: 'redis',
    REDIS_URL,
    REDIS_KEY_PREFIX: `${PREFIX}${++apps}:`,
    SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url')
  }
}

interface Summary { handle: string, created_at: string, last_seen_at: string, user_agent?: string, ip?: string, current: boolean }

async function list (app: FastifyInstance, who: LoggedIn): Promise<Summary[]> {
  const res = await app.inject({ url: '/session/all', cookies: who.cookies })
  if (res.statusCode !== 200) throw new Error(`GET /session/all: ${res.statusCode} ${res.body}`)
  return res.json<{ sessions: Summary[] }>().sessions
}

async function status (app: FastifyInstance, who: LoggedIn): Promise<number> {
  return (await app.inject({ url: '/session', cookies: who.cookies })).statusCode
}

async function loginAs (app: FastifyInstance, credentials: { username: string, password: string, realm?: string }, userAgent: string): Promise<LoggedIn> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'user-agent': userAgent }, payload: credentials })
  const cookie = res.cookies.find(c => c.name === COOKIE_NAME)
  if (res.statusCode !== 200 || cookie === undefined) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return { res, cookies: { [COOKIE_NAME]: cookie.value }, value: cookie.value }
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`${kind} store`, async t => {
    const build = async (env: Env = {}): Promise<FastifyInstance> =>
      await buildTestApp(t, { env: testEnv(idp, { AUTH0_REALMS: 'employees', ...storeEnv(kind), ...env }), deps: { clock } })

    await t.test('GET /session/all: own sessions only, with handle, times, user agent, IP and the current one marked; no id or key', async t => {
      const app = await build()
      const phone = await loginAs(app, ALICE, 'Phone/1.0')
      clock.advance(MINUTE)
      const laptop = await loginAs(app, ALICE, 'Laptop/2.0')
      const bob = await loginAs(app, BOB, 'Bob/1.0')
      const sessions = await list(app, laptop)
      t.equal(sessions.length, 2, "bob's session is not alice's")
      t.same(sessions.map(s => s.user_agent), ['Phone/1.0', 'Laptop/2.0'], 'oldest first')
      t.same(sessions.map(s => s.current), [false, true])
      t.equal(sessions[0]?.ip, '127.0.0.1')
      t.equal(sessions[0]?.created_at, new Date(clock.now() - MINUTE).toISOString())
      t.equal(sessions[1]?.last_seen_at, new Date(clock.now()).toISOString())
      const text = JSON.stringify(sessions)
      for (const who of [phone, laptop]) {
        const id = who.value.slice(0, who.value.lastIndexOf('.'))
        t.notOk(text.includes(id) || text.includes(storageKey(id)), 'neither the session id nor its storage key')
      }
      t.same((await list(app, phone)).map(s => s.current), [true, false], 'the phone sees itself as current')
      t.equal((await list(app, bob)).length, 1)
      t.equal((await app.inject({ url: '/session/all' })).json().code, 'no_session')
      t.equal((await app.inject({ url: '/session/all', cookies: laptop.cookies, headers: { origin: 'https://evil.example' } })).statusCode, 403, 'origin rule')
    })

    await t.test('the index follows logout and idle expiry', async t => {
      const app = await build()
      const first = await login(app)
      clock.advance(20 * MINUTE)
      const second = await login(app)
      const third = await login(app)
      t.equal((await list(app, third)).length, 3)
      t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies: second.cookies })).statusCode, 204)
      t.equal((await list(app, third)).length, 2, 'logout takes it out')
      clock.advance(11 * MINUTE) // the first is now 31 minutes idle
      const left = await list(app, third)
      t.equal(left.length, 1, 'the idle session is gone')
      t.equal(left[0]?.current, true)
      t.equal(await status(app, first), 401)
    })

    await t.test('DELETE /session/all?others=true ends the others (refresh tokens revoked), the current one keeps working', async t => {
      const app = await build()
      const a = await login(app)
      const b = await login(app)
      const c = await login(app)
      const bob = await login(app, BOB)
      t.equal((await app.inject({ method: 'DELETE', url: '/session/all?others=true', cookies: c.cookies })).json().code, 'csrf_required')
      const revocations = idp.stats.revocations
      const res = await app.inject({ method: 'DELETE', url: '/session/all?others=true', headers: CSRF, cookies: c.cookies })
      t.equal(res.statusCode, 200)
      t.same(res.json(), { ended: 2 })
      t.equal(res.headers['set-cookie'], undefined, 'the cookie stays')
      t.equal(idp.stats.revocations - revocations, 2, 'both refresh tokens revoked at the IdP')
      for (const other of [a, b]) {
        const gone = await app.inject({ url: '/session', cookies: other.cookies })
        t.equal(gone.statusCode, 401)
        t.equal(gone.json().code, 'no_session')
      }
      t.equal(await status(app, c), 200)
      t.equal(await status(app, bob), 200, "another user's sessions are untouched")
      t.same((await list(app, c)).map(s => s.current), [true])
      t.equal((await app.inject({ method: 'DELETE', url: '/session/all?others=maybe', headers: CSRF, cookies: c.cookies })).json().code, 'invalid_request')
    })

    await t.test('DELETE /session/all ends every session, the current one too, and clears the cookie', async t => {
      const app = await build()
      const a = await login(app)
      const b = await login(app)
      const res = await app.inject({ method: 'DELETE', url: '/session/all', headers: CSRF, cookies: b.cookies })
      t.same(res.json(), { ended: 2 })
      t.match(String(res.headers['set-cookie']), /Max-Age=0|Expires=Thu, 01 Jan 1970/)
      t.equal(await status(app, a), 401)
      t.equal(await status(app, b), 401)
    })

    await t.test('DELETE /session/all/:handle ends one of mine; 404 session_not_found for an unknown or foreign handle', async t => {
      const app = await build()
      const a = await login(app)
      const b = await login(app)
      const bob = await login(app, BOB)
      // a and b were created at the same instant (manual clock): pick a as the one that is not b's current session.
      const first = (await list(app, b)).find(entry => entry.current === false)
      const [bobs] = await list(app, bob)
      const foreign = await app.inject({ method: 'DELETE', url: `/session/all/${bobs?.handle ?? ''}`, headers: CSRF, cookies: b.cookies })
      t.equal(foreign.statusCode, 404)
      t.equal(foreign.json().code, 'session_not_found')
      t.equal(await status(app, bob), 200)
      t.equal((await app.inject({ method: 'DELETE', url: '/session/all/nope', headers: CSRF, cookies: b.cookies })).json().code, 'session_not_found')
      t.equal((await app.inject({ method: 'DELETE', url: `/session/all/${first?.handle ?? ''}`, cookies: b.cookies })).json().code, 'csrf_required')
      const revocations = idp.stats.revocations
      const res = await app.inject({ method: 'DELETE', url: `/session/all/${first?.handle ?? ''}`, headers: CSRF, cookies: b.cookies })
      t.same(res.json(), { ended: 1 })
      t.equal(idp.stats.revocations - revocations, 1)
      t.equal(await status(app, a), 401)
      t.equal(await status(app, b), 200)
      const [mine] = await list(app, b)
      const self = await app.inject({ method: 'DELETE', url: `/session/all/${mine?.handle ?? ''}`, headers: CSRF, cookies: b.cookies })
      t.same(self.json(), { ended: 1 })
      t.match(String(self.headers['set-cookie']), new RegExp(`^${COOKIE_NAME}=;`), 'ending the current session clears the cookie')
      t.equal(await status(app, b), 401)
    })

    if (kind === 'memory') {
      await t.test('LRU eviction (SESSION_MAX_ENTRIES) takes the evicted session out of the list', async t => {
        const app = await build({ SESSION_MAX_ENTRIES: '2' })
        const a = await login(app)
        await login(app)
        const c = await login(app)
        t.equal(await status(app, a), 401, 'the oldest was evicted')
        t.equal((await list(app, c)).length, 2)
      })
    }

    await t.test('a session without a sub (no id_token) lists only itself', async t => {
      const app = await build({ AUTH0_SCOPE: 'profile email offline_access' })
      const a = await login(app)
      const b = await login(app)
      const mine = await list(app, b)
      t.equal(mine.length, 1)
      t.equal(mine[0]?.current, true)
      t.same((await app.inject({ method: 'DELETE', url: '/session/all?others=true', headers: CSRF, cookies: b.cookies })).json(), { ended: 0 })
      t.equal(await status(app, a), 200)
    })
  })
}

t.test('the user key of the list is the id_token sub', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const who = await login(app)
  const record = await app.sessionStore.get(storageKey(who.value.slice(0, who.value.lastIndexOf('.'))))
  t.equal(record?.sub, ALICE_ID)
  t.equal(record?.ip, '127.0.0.1')
})

t.test('handles are made with a key derived for them, never with the cookie-signing SESSION_SECRET itself', async t => {
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
  const who = await login(app)
  const key = storageKey(who.value.slice(0, who.value.lastIndexOf('.')))
  const [listed] = await list(app, who)
  const underCookieSecret = (data: string): string => createHmac('sha256', SESSION_SECRET).update(data).digest('base64url').slice(0, 22)
  t.equal(listed?.handle.length, 22)
  t.not(listed?.handle, underCookieSecret(key))
  t.not(listed?.handle, underCookieSecret(`bff-session-handle\0${key}`))
  t.equal(listed?.handle, createHmac('sha256', deriveKey(SESSION_SECRET, 'session-handle v1')).update(key).digest('base64url').slice(0, 22))
  const ended = await app.inject({ method: 'DELETE', url: `/session/all/${listed?.handle ?? ''}`, headers: CSRF, cookies: who.cookies })
  t.same(ended.json(), { ended: 1 }, 'and it names the session')
})
