import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createSealer } from '../../../src/crypto/sealer.js'
import { createPendingLogins } from '../../../src/mfa/pending-logins.js'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { createRedisStore } from '../../../src/session/redis-store.js'
import type { SessionStore } from '../../../src/session/session-store.js'
import { createManualClock } from '../../helpers/manual-clock.js'
import { sharedRedis } from '../../helpers/shared-redis.js'

const { redis, prefix: PREFIX } = sharedRedis()

const stores: Record<string, () => SessionStore> = {
  memory: () => createMemoryStore({ maxEntries: 10 }),
  redis: () => createRedisStore({ client: redis, keyPrefix: PREFIX, sealer: createSealer([randomBytes(32)]) })
}

// A pending login is stored as a record kind of its own, with no user: it must round-trip in every store and never
// enter the per-user session index (regression: the Redis store hashed an undefined sub and threw).
for (const [kind, makeStore] of Object.entries(stores)) {
  t.test(`${kind} store: a pending MFA login round-trips and stays out of the per-user index`, async t => {
    const store = makeStore()
    const clock = createManualClock()
    const pending = createPendingLogins({ store, clock, ttlMs: 300_000 })
    const { id } = await pending.create({ mfaToken: 'mfa-token-secret', user: 'hashed-user', realm: undefined, transport: 'cookie', authenticators: [] })
    const loaded = await pending.load(id)
    t.equal(loaded?.kind, 'mfa_pending')
    t.equal(loaded?.mfaToken, 'mfa-token-secret')
    t.same(await store.listByUser?.(''), [], 'no index entry under an empty user')
    t.same(await store.listByUser?.('undefined'), [], 'nor under "undefined"')
    if (kind === 'redis') t.same(await redis.keys(`${PREFIX}user:*`), [], 'no user index key in Redis')
    await pending.destroy(id)
    t.equal(await pending.load(id), undefined, 'destroyed')
    clock.advance(1)
  })
}
