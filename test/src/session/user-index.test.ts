import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createSealer } from '../../../src/crypto/sealer.js'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { createRedisStore, sessionKeyFor } from '../../../src/session/redis-store.js'
import { storageKey } from '../../../src/session/session-id.js'
import { createSessions } from '../../../src/session/sessions.js'
import { createUserIndex, isWellFormedHandle, sessionHandleKey, sessionHandleOf, userIndexKeyFor } from '../../../src/session/user-index.js'
import { createManualClock } from '../../helpers/manual-clock.js'
import { sampleRecord } from '../../helpers/store-contract.js'
import { sharedRedis } from '../../helpers/shared-redis.js'

const { redis, prefix: PREFIX } = sharedRedis()

const TTL = 60_000
const MINUTE = 60_000

t.test('the in-process index: add, remove, copies, empty sub ignored', async t => {
  const index = createUserIndex()
  index.add('alice', 'k1')
  index.add('alice', 'k2')
  index.add('alice', 'k1')
  index.add('', 'k3')
  t.same(index.keys('alice').sort(), ['k1', 'k2'])
  t.same(index.keys(''), [])
  t.equal(index.users, 1)
  index.keys('alice').push('k9')
  t.same(index.keys('alice').sort(), ['k1', 'k2'], 'keys() is a copy')
  index.remove('alice', 'k1')
  index.remove('alice', 'k2')
  index.remove('nobody', 'k2')
  t.equal(index.users, 0, 'an emptied user is dropped')
})

t.test('the in-process index: one key, a second, back to one, and removals of keys it does not hold', async t => {
  const index = createUserIndex()
  index.add('bob', 'k1')
  index.remove('bob', 'k2')
  t.same(index.keys('bob'), ['k1'], 'removing another key leaves a lone key in place')
  index.add('bob', 'k2')
  t.same(index.keys('bob').sort(), ['k1', 'k2'])
  index.remove('bob', 'k1')
  t.same(index.keys('bob'), ['k2'])
  index.add('bob', 'k3')
  index.remove('bob', 'k9')
  t.same(index.keys('bob').sort(), ['k2', 'k3'])
  index.remove('bob', 'k2')
  index.remove('bob', 'k3')
  t.same(index.keys('bob'), [])
  t.equal(index.users, 0)
  index.add('carol', 'k4')
  index.remove('carol', 'k4')
  t.equal(index.users, 0, 'a lone key removed drops the user')
})

t.test('handles: HMAC of the storage key, neither the id nor the key, stable, secret-dependent', async t => {
  const id = 'a'.repeat(43)
  const key = storageKey(id)
  const handle = sessionHandleOf(sessionHandleKey('secret-one-0123456789abcdefghijklmnopqrstuvwxyz'), key)
  t.ok(isWellFormedHandle(handle))
  t.not(handle, id)
  t.notOk(key.includes(handle) || id.includes(handle))
  t.equal(sessionHandleOf(sessionHandleKey('secret-one-0123456789abcdefghijklmnopqrstuvwxyz'), key), handle, 'stable')
  t.not(sessionHandleOf(sessionHandleKey('secret-two-0123456789abcdefghijklmnopqrstuvwxyz'), key), handle, 'depends on the secret')
  t.notOk(isWellFormedHandle('short'))
  t.notOk(isWellFormedHandle(`${'a'.repeat(21)}!`))
})

t.test('memory store: LRU eviction takes the evicted session out of the index (and still reports it)', async t => {
  const evicted: string[] = []
  const store = createMemoryStore({ maxEntries: 2, onEvict: key => { evicted.push(key) } })
  await store.set('k1', sampleRecord({ sub: 'alice' }), TTL)
  await store.set('k2', sampleRecord({ sub: 'alice' }), TTL)
  await store.set('k3', sampleRecord({ sub: 'bob' }), TTL)
  t.same(evicted, ['k1'])
  t.same((await store.listByUser?.('alice'))?.map(entry => entry.key), ['k2'])
  t.same((await store.listByUser?.('bob'))?.map(entry => entry.key), ['k3'])
})

t.test('memory store: clear on close empties the index', async t => {
  const store = createMemoryStore({ maxEntries: 10 })
  await store.set('k1', sampleRecord({ sub: 'alice' }), TTL)
  await store.close()
  t.same(await store.listByUser?.('alice'), [])
})

t.test('Sessions.listForUser: live sessions oldest first; idle and absolute expiry delete on the way', async t => {
  for (const kind of ['memory', 'redis'] as const) {
    await t.test(kind, async t => {
      const clock = createManualClock()
      const store = kind === 'memory'
        ? createMemoryStore({ maxEntries: 100 })
        : createRedisStore({ client: redis, keyPrefix: `${PREFIX}sessions-${randomBytes(3).toString('hex')}:`, sealer: createSealer([randomBytes(32)]) })
      const sessions = createSessions({ store, clock, idleTimeoutMs: 30 * MINUTE, absoluteTimeoutMs: 60 * MINUTE })
      const base = { sub: 'auth0|alice', user: {}, accessToken: 'at', expiresAt: clock.now() + 3_600_000, lifetimeMs: 3_600_000, scope: 'openid' }
      const first = await sessions.create(base)
      clock.advance(20 * MINUTE)
      const second = await sessions.create(base)
      clock.advance(MINUTE)
      const third = await sessions.create(base)
      await sessions.create({ ...base, sub: 'auth0|bob' })
      await sessions.create({ ...base, sub: '' })
      t.same((await sessions.listForUser('auth0|alice')).map(entry => entry.key), [first.id, second.id, third.id].map(storageKey), 'oldest first')
      t.same(await sessions.listForUser(''), [], 'no sub, no list')

      clock.advance(10 * MINUTE) // the first session is 31 minutes idle
      t.same((await sessions.listForUser('auth0|alice')).map(entry => entry.key), [second.id, third.id].map(storageKey))
      t.equal(await store.get(storageKey(first.id)), undefined, 'the idle session was deleted')

      await sessions.end(second.id, 'logout')
      t.same((await sessions.listForUser('auth0|alice')).map(entry => entry.key), [storageKey(third.id)], 'logout takes it out')

      t.ok(await sessions.load(third.id), 'activity keeps the third alive')
      clock.advance(30 * MINUTE) // the third is past its absolute lifetime (60 min from creation at +21)
      t.same(await sessions.listForUser('auth0|alice'), [])
      await sessions.endKey(storageKey(third.id), 'logout')
    })
  }
})

t.test('Redis: one set per user under the prefix (sub hashed), TTL renewed on set, stale members pruned on listing', async t => {
  const prefix = `${PREFIX}index:`
  const store = createRedisStore({ client: redis, keyPrefix: prefix, sealer: createSealer([randomBytes(32)]), userIndexTtlMs: 3_600_000 })
  await store.set('k1', sampleRecord({ sub: 'auth0|alice' }), TTL)
  await store.set('k2', sampleRecord({ sub: 'auth0|alice' }), TTL)
  const indexKey = userIndexKeyFor(prefix, 'auth0|alice')
  t.notOk(indexKey.includes('alice'), 'no user identifier in the key name')
  t.same((await redis.smembers(indexKey)).sort(), ['k1', 'k2'])
  const pttl = await redis.pttl(indexKey)
  t.ok(pttl > 3_500_000 && pttl <= 3_600_000, `index ttl ${pttl} is the configured one, longer than any session`)

  await redis.del(sessionKeyFor(prefix, 'k1')) // as if its TTL had run out
  t.same((await store.listByUser?.('auth0|alice'))?.map(entry => entry.key), ['k2'])
  t.same(await redis.smembers(indexKey), ['k2'], 'the stale member was pruned')

  // A record that no longer opens (its encryption key removed) counts as gone too.
  const other = createRedisStore({ client: redis, keyPrefix: prefix, sealer: createSealer([randomBytes(32)]) })
  t.same(await other.listByUser?.('auth0|alice'), [])
  t.same(await redis.smembers(indexKey), [])
})
