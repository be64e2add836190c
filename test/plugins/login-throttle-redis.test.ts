/**
 * Login throttling with SESSION_STORE=redis, against the real Redis: the counters' keys are
 * `<REDIS_KEY_PREFIX>login-throttle:<limit>:<key>` — no route segment (@fastify/rate-limit's own RedisStore made them
 * `…login-throttle:undefinedundefined-ip:…` for `createRateLimit` limiters), no username — and they are what throttles,
 * across gateways sharing the Redis. Each test writes under a prefix of its own and deletes it afterwards.
 */
import { createHash, randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { ALICE, COOKIE_NAME, buildTestApp, captureLogs, startTestIdp, testEnv } from '../helpers/gateway.js'
import { redisDir, serverArgs, startRedisServer, stopProcess } from '../helpers/private-redis.js'
import { freePort } from '../replicas/cluster.js'
import { MFA_USER } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }
const WRONG = { ...ALICE, password: 'wrong-password' }
const HASH = '[A-Za-z0-9_-]{32}'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 1_000 })
t.teardown(async () => { await redis.quit() })

const idp = await startTestIdp(t, { accessTokenTtlSec: 7200, bruteForceThreshold: 0 })

/** Every key under the prefix, by SCAN (never KEYS): what an operator would list. */
async function keysUnder (prefix: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys.sort()
}

/** A prefix of the test's own, whose keys are deleted when the test ends. */
function uniquePrefix (t: Test): string {
  const prefix = `bff-test:${randomBytes(6).toString('hex')}:`
  t.teardown(async () => {
    const keys = await keysUnder(prefix)
    if (keys.length > 0) await redis.del(...keys)
  })
  return prefix
}

async function gateway (t: Test, prefix: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  return await buildTestApp(t, {
    env: testEnv(idp, {
      SESSION_STORE: 'redis',
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      TRUST_PROXY: '127.0.0.1',
      ...env
    })
  })
}

async function attempt (app: FastifyInstance, ip: string, credentials: Record<string, string> = WRONG): Promise<LightMyRequestResponse> {
  return await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': ip }, payload: credentials })
}

t.test('a refused login leaves one clean counter per limit under <prefix>login-throttle:', async t => {
  const prefix = uniquePrefix(t)
  const app = await gateway(t, prefix)
  const refused = await attempt(app, '203.0.113.7')
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'invalid_credentials')

  const keys = await keysUnder(prefix)
  t.equal(keys.length, 3, `one key per login limit: ${keys.join(', ')}`)
  for (const key of keys) {
    t.notOk(key.includes('undefined'), `no "undefined" in ${key}`)
    t.ok(key.startsWith(`${prefix}login-throttle:`), `${key} is under the throttle's namespace`)
    t.notOk(key.toLowerCase().includes(ALICE.username), 'never the username')
  }
  const rest = keys.map(key => key.slice(`${prefix}login-throttle:`.length))
  t.equal(rest[0], 'ip:203.0.113.7', 'per IP: the client address')
  t.match(rest[1], new RegExp(`^ip_user:203\\.0\\.113\\.7\\|${HASH}$`), 'per IP and username: the address and the username\'s hash')
  t.match(rest[2], new RegExp(`^user:${HASH}$`), 'per username: its hash')
  t.equal(rest[1]?.split('|')[1], rest[2]?.slice('user:'.length), 'the same username hash in both')

  for (const key of keys) {
    t.equal(await redis.get(key), '1', `${key} counted the attempt`)
    const ttl = await redis.pttl(key)
    t.ok(ttl > 0 && ttl <= 60_000, `${key} expires with its window (${ttl} ms)`)
  }

  // The same keys again: stable, not one per request or per gateway.
  const other = await gateway(t, prefix)
  t.equal((await attempt(other, '203.0.113.7', { username: '  ALICE@example.com ', password: 'x' })).statusCode, 401)
  t.same(await keysUnder(prefix), keys, 'a second gateway and a differently written username count under the same keys')
  for (const key of keys) t.equal(await redis.get(key), '2')
})

t.test('the Redis counters throttle across gateways; 429 in the usual shape, with Retry-After', async t => {
  const prefix = uniquePrefix(t)
  const a = await gateway(t, prefix, { LOGIN_RATE_LIMIT_IP_USER: '2/1m' })
  const b = await gateway(t, prefix, { LOGIN_RATE_LIMIT_IP_USER: '2/1m' })
  t.equal((await attempt(a, '198.51.100.20')).statusCode, 401)
  t.equal((await attempt(b, '198.51.100.20')).statusCode, 401)
  const refused = await attempt(a, '198.51.100.20', ALICE)
  t.equal(refused.statusCode, 429)
  t.same(refused.json(), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: 'Too many sign-in attempts; retry later' })
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter} is the rest of the window`)
  t.equal(refused.cookies.length, 0)

  const ipUser = (await keysUnder(prefix)).filter(key => key.startsWith(`${prefix}login-throttle:ip_user:`))
  t.equal(ipUser.length, 1)
  t.equal(await redis.get(ipUser[0] ?? ''), '3', 'both gateways counted into one key')
  t.equal((await attempt(b, '198.51.100.21', ALICE)).statusCode, 200, 'another address is not throttled')
})

t.test('the MFA limit: <prefix>login-throttle:mfa:<ip>|<hash of the pending login>', async t => {
  const prefix = uniquePrefix(t)
  const app = await gateway(t, prefix)
  const started = await attempt(app, '192.0.2.44', MFA_USER)
  t.equal(started.json().code, 'mfa_required')
  const pending = started.cookies.find(c => c.name === `${COOKIE_NAME}-mfa`)?.value ?? ''
  const res = await app.inject({
    method: 'POST',
    url: '/session/mfa',
    headers: { ...CSRF, 'x-forwarded-for': '192.0.2.44' },
    cookies: { [`${COOKIE_NAME}-mfa`]: pending },
    payload: { otp: '000000' }
  })
  t.not(res.statusCode, 429)

  const mfaKeys = (await keysUnder(`${prefix}login-throttle:mfa:`))
  t.equal(mfaKeys.length, 1)
  t.match(mfaKeys[0], new RegExp(`^${prefix}login-throttle:mfa:192\\.0\\.2\\.44\\|${HASH}$`))
  t.notOk(mfaKeys[0]?.includes(pending.slice(0, pending.lastIndexOf('.'))), 'not the pending login\'s id')
  for (const key of await keysUnder(prefix)) t.notOk(key.includes('undefined'), `no "undefined" in ${key}`)
})

t.test('per user and per device across two gateways: only failures count, shared by both; a device cookie from one works at the other', async t => {
  const prefix = uniquePrefix(t)
  const env = { LOGIN_RATE_LIMIT_USER: '3/1m', LOGIN_RATE_LIMIT_DEVICE: '2/1m' }
  const a = await gateway(t, prefix, env)
  const b = await gateway(t, prefix, env)
  const signedIn = await attempt(a, '192.0.2.60', ALICE)
  t.equal(signedIn.statusCode, 200)
  const device = signedIn.cookies.find(c => c.name === `${COOKIE_NAME}-device`)?.value ?? ''
  const userKeys = async (): Promise<string[]> => await keysUnder(`${prefix}login-throttle:user:`)
  const [userKey] = await userKeys()
  t.equal(await redis.get(userKey ?? ''), '0', 'the sign-in was reserved, then released: not a failure')

  t.equal((await attempt(a, '192.0.2.61')).statusCode, 401)
  t.equal((await attempt(b, '192.0.2.62')).statusCode, 401)
  t.equal((await attempt(a, '192.0.2.63')).statusCode, 401)
  t.equal(await redis.get(userKey ?? ''), '3', 'three failures, from both gateways, in one key')
  const locked = await attempt(b, '192.0.2.64', ALICE)
  t.equal(locked.statusCode, 429, 'the other gateway throttles alice from a new browser')
  t.equal(locked.json().code, 'rate_limited')

  const withDevice = async (app: FastifyInstance, ip: string, credentials: Record<string, string>): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'POST', url: '/session', headers: { ...CSRF, 'x-forwarded-for': ip }, cookies: { [`${COOKIE_NAME}-device`]: device }, payload: credentials })
  t.equal((await withDevice(b, '192.0.2.65', ALICE)).statusCode, 200, 'a device cookie issued by one gateway bypasses the per-user limit at the other')
  t.equal((await withDevice(b, '192.0.2.66', WRONG)).statusCode, 401)
  t.equal((await withDevice(a, '192.0.2.67', WRONG)).statusCode, 401)
  const deviceKeys = await keysUnder(`${prefix}login-throttle:device:`)
  t.equal(deviceKeys.length, 1)
  t.match(deviceKeys[0], new RegExp(`^${prefix}login-throttle:device:${HASH}$`), 'a hash of the device\'s nonce, not the cookie')
  t.notOk(deviceKeys[0]?.includes(device.split('.')[0] ?? ''), 'not the nonce itself')
  t.equal(await redis.get(deviceKeys[0] ?? ''), '2', 'the device\'s failures, from both gateways')
  t.equal((await withDevice(a, '192.0.2.68', ALICE)).statusCode, 429, 'the device is locked out')
  t.equal(await redis.get(userKey ?? ''), '3', 'device failures did not count toward the user')
})

t.test('item 13: the username in Redis keys is a keyed hash (LOG_HASH_KEY): not the unsalted SHA-256, other under another key', async t => {
  const keyOf = async (env: Record<string, string>): Promise<string> => {
    const prefix = uniquePrefix(t)
    await attempt(await gateway(t, prefix, env), '203.0.113.90')
    const [key] = await keysUnder(`${prefix}login-throttle:user:`)
    return key?.slice(`${prefix}login-throttle:user:`.length) ?? ''
  }
  const one = await keyOf({ LOG_HASH_KEY: 'log-hash-key-one-0123456789abcdefghijklmn' })
  t.match(one, new RegExp(`^${HASH}$`))
  t.not(one, createHash('sha256').update(`\u0000${ALICE.username}`).digest('base64url').slice(0, 32), 'not the unsalted hash of the old keys')
  t.equal(await keyOf({ LOG_HASH_KEY: 'log-hash-key-one-0123456789abcdefghijklmn', SESSION_SECRET: 'rotated-session-secret-0123456789abcdefghijk' }), one, 'LOG_HASH_KEY keeps it across a SESSION_SECRET rotation (and replicas agree)')
  t.not(await keyOf({ LOG_HASH_KEY: 'log-hash-key-two-0123456789abcdefghijklmn' }), one, 'another key, another Redis key')
})

t.test('the failure counters fail closed: Redis down, a login is 503 store_unavailable before the IdP is asked', async t => {
  const port = await freePort()
  const server = await startRedisServer(serverArgs(port, await redisDir(t)))
  t.teardown(async () => { await stopProcess(server, 'SIGKILL') })
  const logs = captureLogs()
  // Only the per-user counter is left, so it is the one that meets the outage.
  const app = await buildTestApp(t, {
    env: testEnv(idp, {
      SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      REDIS_TIMEOUT: '500ms', LOG_LEVEL: 'info', LOGIN_RATE_LIMIT_IP: 'off', LOGIN_RATE_LIMIT_IP_USER: 'off'
    }),
    logs
  })
  await stopProcess(server, 'SIGTERM')
  idp.clearCalls()
  const res = await attempt(app, '203.0.113.99', ALICE)
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'store_unavailable')
  t.equal(idp.calls.length, 0, 'the IdP was not asked')
  t.match(logs.lines().find(l => l.msg === 'login throttle counters unreachable'), { level: 50, limit: 'user' })
})
