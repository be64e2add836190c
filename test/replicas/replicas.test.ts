/**
 * Three gateway processes on one Redis (the shared server, a random key prefix): every replica sees every session,
 * a refresh storm spread over all three redeems the refresh token once, and Redis holds no token in clear text.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { createSealer } from '../../src/crypto/sealer.js'
import { startTestIdp, testEnv } from '../helpers/gateway.js'
import { keysFor, newEncryptionKey, randomPrefix, startReplica, type Replica } from './cluster.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = randomPrefix()
const KEY = newEncryptionKey()

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
t.teardown(async () => {
  const keys = await redis.keys(`${PREFIX}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

const idp = await startTestIdp(t)
const env = testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: PREFIX, SESSION_ENCRYPTION_KEY: KEY, LOG_LEVEL: 'warn' })
const replicas = await Promise.all(['a', 'b', 'c'].map(async name => await startReplica(t, name, env)))
const [a, b, c] = replicas as [Replica, Replica, Replica]

async function login (on: Replica): Promise<string> {
  const res = await on.request('POST', '/session')
  if (res.status !== 200 || res.cookie === undefined) throw new Error(`login: ${res.status} ${JSON.stringify(res.body)}`)
  return res.cookie
}

t.test('login on one replica, use on another, logout on the third: gone everywhere', async t => {
  const cookie = await login(a)
  const seen = await b.request('GET', '/session', cookie)
  t.equal(seen.status, 200)
  t.equal((seen.body.user as { email?: string }).email, 'alice@example.com')
  t.equal((await c.request('DELETE', '/session', cookie)).status, 204)
  for (const replica of replicas) {
    const res = await replica.request('GET', '/session', cookie)
    t.equal(res.status, 401, `replica ${replica.name}: 401 after logout`)
  }
  t.equal(await redis.exists(keysFor(PREFIX, cookie).session), 0, 'the key is deleted')
})

t.test('Redis holds sealed values under hashed keys: no token, no session id in clear text', async t => {
  const cookie = await login(a)
  const { session } = keysFor(PREFIX, cookie)
  const raw = await redis.hgetall(session)
  const hash = session.slice(`${PREFIX}session:`.length)
  const record = JSON.parse(createSealer([Buffer.from(KEY, 'base64url')]).open(raw.r ?? '', hash) ?? '{}') as { accessToken?: string, refreshToken?: string }
  t.ok(record.accessToken !== undefined && record.accessToken.length > 20, 'the sealed value holds the access token')
  t.ok(record.refreshToken !== undefined && record.refreshToken.length > 10, 'and the refresh token')
  const dump = JSON.stringify(raw)
  t.notOk(dump.includes(record.accessToken ?? '?'), 'no access token in the stored value')
  t.notOk(dump.includes(record.refreshToken ?? '?'), 'no refresh token in the stored value')
  const id = cookie.split('.')[0] ?? ''
  const keys = await redis.keys(`${PREFIX}*`)
  t.notOk(keys.some(key => key.includes(id)), 'no key contains the session id (the cookie value)')
  // The dump Redis itself would write (DUMP is the RDB serialisation of the key).
  const serialized = (await redis.dumpBuffer(session))?.toString('latin1') ?? ''
  t.notOk(serialized.includes(record.accessToken ?? '?') || serialized.includes(record.refreshToken ?? '?'), 'DUMP shows no token either')
})

t.test('refresh storm over three replicas: one call at the IdP, no reuse, every request gets the new token', async t => {
  const cookie = await login(a)
  const before = await b.request('GET', '/session', cookie)
  const refreshesBefore = idp.stats.tokenCalls.refresh_token ?? 0
  await Promise.all(replicas.map(async replica => { await replica.advance(301_000) })) // the access token has expired everywhere
  const gate = idp.hold('token')
  const storm = (): Array<Promise<{ status: number, body: Record<string, unknown> }>> =>
    replicas.flatMap(replica => Array.from({ length: 20 }, async () => await replica.request('GET', '/session', cookie)))
  const first = storm()
  await gate.waitForCalls(1)
  const second = storm() // these certainly arrive while the winner's refresh is held at the IdP
  const lock = await redis.pttl(keysFor(PREFIX, cookie).lock)
  t.ok(lock > 0, 'the refresh lock is held in Redis meanwhile')
  gate.release()
  const results = await Promise.all([...first, ...second])
  t.equal(results.filter(res => res.status === 200).length, results.length, `all ${results.length} requests succeeded`)
  t.equal((idp.stats.tokenCalls.refresh_token ?? 0) - refreshesBefore, 1, 'exactly one refresh call at the IdP')
  t.equal(idp.stats.reuseDetections, 0, 'no refresh-token reuse detected')
  const expiries = new Set(results.map(res => res.body.access_token_expires_at))
  t.equal(expiries.size, 1, 'every replica answered with the same (new) token')
  t.not([...expiries][0], before.body.access_token_expires_at, 'which is not the old one')
  t.equal(await redis.exists(keysFor(PREFIX, cookie).lock), 0, 'the winner released the lock')
})
