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

// Issue #15 item 7: save() was a plain set, so an update computed from a pending login read before it was consumed
// (a challenge, a slow_down) brought it back. Interleaving: read → destroy (the verification) → save.
for (const [kind, makeStore] of Object.entries(stores)) {
  t.test(`${kind} store: save() updates a live pending login but never brings back an ended one`, async t => {
    const clock = createManualClock()
    const pending = createPendingLogins({ store: makeStore(), clock, ttlMs: 300_000 })
    const { id } = await pending.create({ mfaToken: 'mfa-token-secret', user: 'hashed-user', realm: undefined, transport: 'cookie', authenticators: [] })
    const read = await pending.load(id)
    if (read === undefined) throw new Error('no pending login')
    const oob = { code: 'oob-code', authenticatorId: 'sms|x', binding: true, intervalSec: 5 }
    t.equal(await pending.save(id, { ...read, oob }), true, 'a live pending login is updated')
    t.same((await pending.load(id))?.oob, oob)

    await pending.destroy(id)
    t.equal(await pending.save(id, { ...read, oob: { ...oob, intervalSec: 10 } }), false, 'the save of a stale read reports the login ended')
    t.equal(await pending.load(id), undefined, 'and does not resurrect it')

    // The same through a store without replace (an injected one): read, then write.
    const bare = makeStore()
    const { replace: _replace, ...withoutReplace } = bare
    const fallback = createPendingLogins({ store: withoutReplace, clock, ttlMs: 300_000 })
    const second = await fallback.create({ mfaToken: 'm', user: 'u', realm: undefined, transport: 'cookie', authenticators: [] })
    t.equal(await fallback.save(second.id, second.record), true)
    await fallback.destroy(second.id)
    t.equal(await fallback.save(second.id, second.record), false)
    t.equal(await fallback.load(second.id), undefined)
    clock.advance(300_000)
    t.equal(await pending.save(id, read), false, 'an expired record is not written')
  })
}
