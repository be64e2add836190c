/**
 * The Redis hash of a session keeps its last activity (`s`) in clear next to the sealed record (`r`). Someone who can
 * write to Redis but not seal must not keep a session alive with it, nor break a route (issue #15, finding 14): a
 * future, non-numeric or otherwise impossible `s` ends the session (401 on GET /session and on /api, never a 500, the
 * same answer on both) and is logged at warn. Against the shared Redis, the bad value written with a raw client.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { sessionKeyFor } from '../../src/session/redis-store.js'
import { storageKey } from '../../src/session/session-id.js'
import { buildTestApp, captureLogs, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { REDIS_URL, sharedRedis } from '../helpers/shared-redis.js'
import { startUpstream } from '../helpers/upstream.js'

const { redis, prefix } = sharedRedis()
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 7200 })
const upstream = await startUpstream(t)
const logs = captureLogs()
const app = await buildTestApp(t, {
  logs,
  deps: { clock },
  env: testEnv(idp, {
    LOG_LEVEL: 'info',
    UPSTREAMS: `/api=${upstream.url}`,
    SESSION_STORE: 'redis',
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    SESSION_IDLE_TIMEOUT: '30m'
  })
})

const MINUTE = 60_000

async function signIn (): Promise<{ cookies: Record<string, string>, key: string }> {
  const { cookies, value } = await login(app)
  return { cookies, key: sessionKeyFor(prefix, storageKey(value.slice(0, value.lastIndexOf('.')))) }
}

async function statuses (cookies: Record<string, string>): Promise<{ session: number, api: number, body: string }> {
  const session = await app.inject({ method: 'GET', url: '/session', cookies })
  const api = await app.inject({ method: 'GET', url: '/api/orders', cookies })
  return { session: session.statusCode, api: api.statusCode, body: session.body }
}

t.test('control: an untouched session answers 200 on both, and later activity is kept', async t => {
  const { cookies, key } = await signIn()
  t.same(await statuses(cookies), { session: 200, api: 200, body: (await app.inject({ method: 'GET', url: '/session', cookies })).body })
  clock.advance(10 * MINUTE)
  await app.inject({ method: 'GET', url: '/session', cookies })
  t.equal(await redis.hget(key, 's'), String(clock.now()), 'activity recorded in clear')
  clock.advance(25 * MINUTE)
  t.equal((await statuses(cookies)).session, 200, '25 minutes after the last activity, 35 after login: alive')
})

const BAD: Array<[string, () => string, string]> = [
  ['far in the future', () => String(clock.now() + 365 * 24 * 60 * MINUTE), 'in the future'],
  ['two minutes ahead', () => String(clock.now() + 2 * MINUTE), 'in the future'],
  ['garbage', () => 'garbage', 'not a number'],
  ['a number with a fraction', () => `${clock.now()}.5`, 'not a number'],
  ['empty', () => '', 'not a number'],
  ['long before the session was last written', () => '1', 'before the last write of the session']
]

for (const [name, value, reason] of BAD) {
  t.test(`s ${name}: the session has ended, 401 on GET /session and /api, logged at warn`, async t => {
    const { cookies, key } = await signIn()
    clock.advance(MINUTE)
    const before = logs.lines().length
    await redis.hset(key, 's', value())
    const answers = await statuses(cookies)
    t.equal(answers.session, 401, 'GET /session')
    t.equal(answers.api, 401, '/api')
    t.match(JSON.parse(answers.body), { code: 'no_session' })
    const warned = logs.lines().slice(before).filter(line => line.event === 'session_activity_invalid')
    t.ok(warned.length >= 1, 'logged')
    t.match(warned[0], { level: 40, reason })
    t.equal(await redis.exists(key), 0, 'the session is deleted like any expired one')
    t.equal(logs.lines().filter(line => line.level === 50).length, 0, 'no error logged')
  })
}

t.test('s in the future cannot outlive the idle timeout either: kept alive it is not', async t => {
  const { cookies, key } = await signIn()
  await redis.hset(key, 's', String(clock.now() + 59_000))
  t.equal((await statuses(cookies)).session, 200, 'within a minute ahead (replica clocks): believed')
  clock.advance(31 * MINUTE)
  t.equal((await statuses(cookies)).session, 401, 'and it still ends an idle timeout later')
})
