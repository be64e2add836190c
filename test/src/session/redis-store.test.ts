import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'
import { loadConfig } from '../../../fastify.config.js'
import { createSealer, keyId } from '../../../src/crypto/sealer.js'
import { GatewayError } from '../../../src/errors.js'
import { createRedisStore, sessionKeyFor } from '../../../src/session/redis-store.js'
import { createLocalLock, createRedisLock, lockKeyFor } from '../../../src/session/refresh-lock.js'
import { runStoreContract, sampleRecord, type ContractTest } from '../../helpers/store-contract.js'
import { REDIS_URL, sharedRedis } from '../../helpers/shared-redis.js'

const KEY_1 = randomBytes(32)
const KEY_2 = randomBytes(32)

const { redis, prefix: PREFIX } = sharedRedis()

function storeWith (keys: Buffer[] = [KEY_1], onUnreadable?: (key: string) => void, keyPrefix = PREFIX) {
  return createRedisStore({ client: redis, keyPrefix, sealer: createSealer(keys), ...(onUnreadable === undefined ? {} : { onUnreadable }) })
}
let storeCount = 0

t.test('the Redis store keeps the store contract', async t => {
  // The cast bridges tap's overloaded `test` to the helper's structural type (same call shape at runtime).
  await runStoreContract(t as unknown as ContractTest, () => storeWith([KEY_1], undefined, `${PREFIX}contract-${++storeCount}:`)) // each store its own keys
})

t.test('the stored value holds no token, user claim or session key in clear text', async t => {
  const store = storeWith()
  const record = sampleRecord({ accessToken: 'AT-secret-0123456789', refreshToken: 'RT-secret-9876543210', user: { email: 'alice@example.com' } })
  await store.set('k-raw', record, 60_000)
  const raw = await redis.hgetall(sessionKeyFor(PREFIX, 'k-raw'))
  t.same(Object.keys(raw).sort(), ['r', 's'])
  const text = JSON.stringify(raw)
  for (const secret of ['AT-secret', 'RT-secret', 'alice@example.com']) t.notOk(text.includes(secret), `no ${secret}`)
  t.equal(raw.s, String(record.lastSeenAt), 'only lastSeenAt is in clear')
  t.ok(raw.r?.startsWith(`${keyId(KEY_1)}.`), 'sealed with the first key, its id as prefix')
})

t.test('set gives the key the ttl; touch resets it without rewriting the sealed record', async t => {
  const store = storeWith()
  const key = sessionKeyFor(PREFIX, 'k-ttl')
  await store.set('k-ttl', sampleRecord(), 60_000)
  // The hash outlives the ttl by the grace (5 minutes by default), for the sweeper to read the refresh token.
  const first = await redis.pttl(key)
  t.ok(first > 355_000 && first <= 360_000, `pttl ${first} follows the ttl given to set, plus the grace`)
  const sealed = await redis.hget(key, 'r')
  await store.touch('k-ttl', 42, 600_000)
  const second = await redis.pttl(key)
  t.ok(second > 895_000 && second <= 900_000, `pttl ${second} follows the ttl given to touch, plus the grace`)
  t.equal(await redis.hget(key, 's'), '42')
  t.equal(await redis.hget(key, 'r'), sealed, 'the tokens were not rewritten')
  await store.touch('k-absent', 42, 600_000)
  t.equal(await redis.exists(sessionKeyFor(PREFIX, 'k-absent')), 0, 'touch creates nothing')
})

t.test('a value copied under another key does not open there', async t => {
  const reports: string[] = []
  const store = storeWith([KEY_1], key => { reports.push(key) })
  await store.set('victim', sampleRecord(), 60_000)
  const sealed = await redis.hget(sessionKeyFor(PREFIX, 'victim'), 'r')
  await redis.hset(sessionKeyFor(PREFIX, 'attacker'), 'r', sealed ?? '', 's', '1')
  t.equal(await store.get('attacker'), undefined)
  t.same(reports, ['attacker'])
})

t.test('key rotation: old records open with the key list, new writes use the first key, a removed key reads as no session', async t => {
  const before = storeWith([KEY_1])
  await before.set('k-rot', sampleRecord({ accessToken: 'at-old-key' }), 60_000)
  const rotated = storeWith([KEY_2, KEY_1])
  t.equal((await rotated.get('k-rot'))?.accessToken, 'at-old-key')
  await rotated.set('k-rot', sampleRecord({ accessToken: 'at-new-key', version: 1 }), 60_000)
  t.ok((await redis.hget(sessionKeyFor(PREFIX, 'k-rot'), 'r'))?.startsWith(`${keyId(KEY_2)}.`))
  await before.set('k-rot-2', sampleRecord(), 60_000)
  t.equal(await storeWith([KEY_2]).get('k-rot-2'), undefined, 'KEY_1 removed')
})

t.test('several stores on one client register their scripts once', async t => {
  const a = storeWith()
  const b = storeWith()
  await a.set('k-shared', sampleRecord(), 60_000)
  t.equal((await b.get('k-shared'))?.sub, 'auth0|alice')
})

t.test('Redis unreachable: every operation rejects with store_unavailable, quickly', async t => {
  const down = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 200, retryStrategy: () => null })
  down.on('error', () => {})
  t.teardown(() => { down.disconnect() })
  await down.connect().catch(() => {})
  const store = createRedisStore({ client: down, keyPrefix: PREFIX, sealer: createSealer([KEY_1]) })
  const lock = createRedisLock(down, { keyPrefix: PREFIX })
  for (const op of [
    async () => await store.get('k'),
    async () => { await store.set('k', sampleRecord(), 1_000) },
    async () => { await store.touch('k', 1, 1_000) },
    async () => { await store.delete('k') },
    async () => await lock.acquire('k', 1_000)
  ]) {
    const err = await op().then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof GatewayError && err.code === 'store_unavailable' && err.statusCode === 503, String(err))
  }
})

t.test('the Redis refresh lock: one holder, a lease, release only by the owner', async t => {
  const lock = createRedisLock(redis, { keyPrefix: PREFIX })
  createRedisLock(redis, { keyPrefix: PREFIX }) // a second instance on the same client: the script is defined once
  const key = lockKeyFor(PREFIX, 'session-a')
  const releaseA = await lock.acquire('session-a', 5_000)
  t.ok(releaseA, 'the first acquire takes it')
  t.equal(await lock.acquire('session-a', 5_000), undefined, 'a second one does not')
  t.ok(await lock.acquire('session-b', 5_000), 'other sessions are independent')
  const pttl = await redis.pttl(key)
  t.ok(pttl > 4_000 && pttl <= 5_000, `the lease (${pttl} ms) is the ttl given`)
  const owner = await redis.get(key)
  t.ok(owner !== null && owner.length >= 20, 'the value is a random owner token')
  // The lease runs out (expired here rather than waited for) and another replica takes the lock.
  await redis.pexpire(key, 1)
  await redis.del(key)
  const releaseB = await lock.acquire('session-a', 5_000)
  t.ok(releaseB)
  await releaseA?.()
  t.not(await redis.get(key), null, 'the stale owner did not release the new holder\'s lock')
  await releaseB?.()
  t.equal(await redis.get(key), null, 'the owner did')
  t.ok(await lock.acquire('session-a', 5_000), 'free again')
})

t.test('the local lock: one holder per key until released or the lease ends', async t => {
  const lock = createLocalLock()
  const release = await lock.acquire('a', 60_000)
  t.ok(release)
  t.equal(await lock.acquire('a', 60_000), undefined)
  await release?.()
  t.ok(await lock.acquire('a', 60_000))
  t.ok(await lock.acquire('b', 0), 'a zero lease')
  t.ok(await lock.acquire('b', 60_000), 'is over at once')
})

t.test('configuration: SESSION_STORE=redis needs an encryption key and a Redis location', async t => {
  const base = { AUTH0_DOMAIN: 'http://127.0.0.1:1', AUTH0_CLIENT_ID: 'c', AUTH0_CLIENT_SECRET: 's', SESSION_SECRET: 'x'.repeat(32) }
  const key = randomBytes(32).toString('base64')
  t.throws(() => loadConfig({ ...base, SESSION_STORE: 'redis', REDIS_URL }), /SESSION_ENCRYPTION_KEY: required when SESSION_STORE=redis/)
  t.throws(() => loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: key }), /REDIS_URL: required/)
  t.throws(() => loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: 'c2hvcnQ=', REDIS_URL }), /SESSION_ENCRYPTION_KEY: entry 1: expected 32 bytes/)
  const badUrl = (() => { try { loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: key, REDIS_URL: 'http://:secret@x' }) } catch (err) { return String(err) } return '' })()
  t.match(badUrl, /REDIS_URL: expected redis:/)
  t.notOk(badUrl.includes('secret'), 'the URL (it may hold a password) is not echoed')
  t.throws(() => loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: key, REDIS_SENTINELS: 's1:26379' }), /REDIS_SENTINEL_MASTER: required/)
  const config = loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: `${key}, ${randomBytes(32).toString('base64url')}`, REDIS_URL: 'rediss://:pw@redis.internal:6380/2' })
  t.equal(config.store.kind, 'redis')
  t.equal(config.store.encryptionKeys.length, 2)
  t.equal(config.store.redis?.keyPrefix, 'bff:')
  t.equal(config.store.redis?.timeoutMs, 1_000)
  const sentinel = loadConfig({ ...base, SESSION_STORE: 'redis', SESSION_ENCRYPTION_KEY: key, REDIS_SENTINELS: 's1, s2:26380', REDIS_SENTINEL_MASTER: 'mymaster', REDIS_KEY_PREFIX: 'gw1:' })
  t.same(sentinel.store.redis?.sentinels, [{ host: 's1', port: 26_379 }, { host: 's2', port: 26_380 }])
  t.equal(sentinel.store.redis?.keyPrefix, 'gw1:')
  t.equal(loadConfig(base).store.kind, 'memory', 'memory by default')
})

t.test('a value read again unchanged is not opened again; a change by another replica, or an altered value, is', async t => {
  let opens = 0
  const sealer = createSealer([KEY_1])
  const counting = { ...sealer, open: (sealed: string, context?: string) => { opens++; return sealer.open(sealed, context) } }
  const unreadable: string[] = []
  const reader = createRedisStore({ client: redis, keyPrefix: PREFIX, sealer: counting, onUnreadable: key => { unreadable.push(key) } })
  const otherReplica = storeWith()
  await otherReplica.set('k-cache', sampleRecord(), 60_000)

  const first = await reader.get('k-cache')
  const second = await reader.get('k-cache')
  t.equal(opens, 1, 'opened once for two reads of the same value')
  t.same(second, first)
  t.not(second, first, 'each read hands out its own copy')
  t.not(second?.user, first?.user)

  const touchedAt = String(sampleRecord().lastSeenAt + 12_345)
  await redis.hset(sessionKeyFor(PREFIX, 'k-cache'), 's', touchedAt)
  t.equal(String((await reader.get('k-cache'))?.lastSeenAt), touchedAt, 'lastSeenAt is read every time (touch from another replica)')
  t.equal(opens, 1)

  await otherReplica.set('k-cache', sampleRecord({ accessToken: 'at-rotated', version: 1 }), 60_000)
  t.equal((await reader.get('k-cache'))?.accessToken, 'at-rotated', 'a rotation on another replica is seen at once')
  t.equal(opens, 2)

  await reader.set('k-cache', sampleRecord({ accessToken: 'at-mine', version: 2 }), 60_000)
  t.equal((await reader.get('k-cache'))?.accessToken, 'at-mine')
  t.equal(opens, 2, 'its own write needs no opening')

  const sealed = await redis.hget(sessionKeyFor(PREFIX, 'k-cache'), 'r') ?? ''
  await redis.hset(sessionKeyFor(PREFIX, 'k-cache'), 'r', `${sealed.slice(0, -4)}AAAA`)
  t.equal(await reader.get('k-cache'), undefined, 'an altered value is refused, not served from memory')
  t.same(unreadable, ['k-cache'])

  await otherReplica.set('k-cache', sampleRecord(), 60_000)
  await otherReplica.delete('k-cache')
  t.equal(await reader.get('k-cache'), undefined, 'a logout on another replica is seen at once')
})

t.test('the clear-text last activity is judged against the floor sealed with the record (issue #15)', async t => {
  const reports: string[] = []
  const store = createRedisStore({ client: redis, keyPrefix: PREFIX, sealer: createSealer([KEY_1]), onImpossibleActivity: reason => { reports.push(reason) } })
  const record = sampleRecord()
  const key = sessionKeyFor(PREFIX, 'k-floor')
  const read = async (s: string): Promise<number | undefined> => {
    await store.set('k-floor', record, 60_000)
    await redis.hset(key, 's', s)
    return (await store.get('k-floor'))?.lastSeenAt
  }
  t.equal(await read(String(record.lastSeenAt + 1000)), record.lastSeenAt + 1000, 'later activity is believed (the Sessions layer refuses the future)')
  t.equal(await read(String(record.lastSeenAt - 5000)), record.lastSeenAt, 'a little before the floor (replica clocks): the floor')
  t.same(reports, [])
  const impossible: Array<[string, string]> = [['garbage', 'not a number'], ['1e15', 'not a number'], ['-1', 'not a number'], ['', 'not a number'], ['12345', 'before the last write of the session']]
  for (const [s, reason] of impossible) {
    t.equal(await read(s), 0, `s = ${JSON.stringify(s)}: expired`)
    t.equal(reports.pop(), reason, `reported: ${reason}`)
  }
  await store.set('k-floor', record, 60_000)
  await redis.hdel(key, 's')
  t.equal((await store.get('k-floor'))?.lastSeenAt, record.lastSeenAt, 'no s at all: the floor')
  await redis.hset(key, 's', 'garbage')
  await store.delete('k-floor')
  t.same(reports, [], 'deleting reads quietly')
})

t.test('a value sealed before the floor existed reads with its creation as the floor', async t => {
  const sealer = createSealer([KEY_1])
  const store = createRedisStore({ client: redis, keyPrefix: PREFIX, sealer })
  const { lastSeenAt: _, ...older } = sampleRecord()
  await redis.hset(sessionKeyFor(PREFIX, 'k-older'), 'r', sealer.seal(JSON.stringify(older), 'k-older'), 's', String(older.createdAt + 60_000))
  t.equal((await store.get('k-older'))?.lastSeenAt, older.createdAt + 60_000)
  await redis.hset(sessionKeyFor(PREFIX, 'k-older'), 's', String(older.createdAt - 120_000))
  t.equal((await store.get('k-older'))?.lastSeenAt, 0, 'before its creation: expired')
})
