/**
 * Issue #15, without a server: every end of a session revokes its refresh token exactly once and is announced,
 * whatever the cause; the per-user bound; the sweeper (memory: the LRU's expiry; Redis: the sorted set of expiries,
 * claimed by one replica at a time).
 */
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { createSealer } from '../../../src/crypto/sealer.js'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { createRedisEndBus } from '../../../src/session/redis-end-bus.js'
import { createRedisStore, expiriesKeyFor, sessionKeyFor } from '../../../src/session/redis-store.js'
import { createSessionEnder, type EndBus, type EndReason } from '../../../src/session/session-end.js'
import type { SessionRecord, SessionStore } from '../../../src/session/session-store.js'
import { createSessions, type NewSession, type Sessions } from '../../../src/session/sessions.js'
import { storageKey } from '../../../src/session/session-id.js'
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js'
import { REDIS_URL, sharedRedis } from '../../helpers/shared-redis.js'

const MINUTE = 60_000
const IDLE = 30 * MINUTE
const ABSOLUTE = 60 * MINUTE
const { redis, prefix: PREFIX } = sharedRedis()
const SEAL_KEY = randomBytes(32)

interface Ended { reason: unknown, sub: unknown, revocation: unknown }

interface Setup {
  clock: ManualClock
  store: SessionStore
  sessions: Sessions
  /** Refresh tokens revoked, in order (a token twice would show twice). */
  revoked: string[]
  /** The session_ended events logged. */
  ended: Ended[]
  /** Storage keys announced to the listeners. */
  announced: string[]
  keyPrefix: string
}

type Kind = 'memory' | 'redis'

function newStore (kind: Kind, clock: ManualClock, keyPrefix: string, client: Redis = redis, onDrop?: (key: string, record: SessionRecord, reason: 'evicted' | 'expired') => void, maxEntries = 1_000): SessionStore {
  return kind === 'memory'
    ? createMemoryStore({ maxEntries, clock, ...(onDrop === undefined ? {} : { onDrop }) })
    : createRedisStore({ client, keyPrefix, sealer: createSealer([SEAL_KEY]), clock })
}

function setup (kind: Kind, options: { maxPerUser?: number, maxEntries?: number, keyPrefix?: string, clock?: ManualClock, client?: Redis, bus?: EndBus, revoke?: (token: string) => Promise<void> } = {}): Setup {
  const clock = options.clock ?? createManualClock()
  const revoked: string[] = []
  const ended: Ended[] = []
  const announced: string[] = []
  const log = {
    info (obj: object) { if ((obj as { event?: string }).event === 'session_ended') ended.push(obj as Ended) },
    warn (obj: object) { if ((obj as { event?: string }).event === 'session_ended') ended.push(obj as Ended) }
  }
  const ender = createSessionEnder({ log, bus: options.bus })
  ender.setRevoker(options.revoke ?? (async token => { revoked.push(token) }))
  ender.onEnded(key => { announced.push(key) })
  let sessions: Sessions | undefined
  const keyPrefix = options.keyPrefix ?? `${PREFIX}${randomBytes(4).toString('hex')}:`
  const store = newStore(kind, clock, keyPrefix, options.client, (key, record, reason) => { sessions?.dropped(key, record, reason) }, options.maxEntries)
  sessions = createSessions({ store, clock, idleTimeoutMs: IDLE, absoluteTimeoutMs: ABSOLUTE, ender, ...(options.maxPerUser === undefined ? {} : { maxPerUser: options.maxPerUser }) })
  return { clock, store, sessions, revoked, ended, announced, keyPrefix }
}

let counter = 0
function newSession (clock: ManualClock, sub = 'auth0|alice'): NewSession {
  counter++
  return { sub, user: {}, accessToken: `at-${counter}`, refreshToken: `rt-${counter}`, expiresAt: clock.now() + 3_600_000, lifetimeMs: 3_600_000, scope: 'openid offline_access' }
}

const kinds: Kind[] = ['memory', 'redis']

for (const kind of kinds) {
  t.test(`${kind}: MAX_SESSIONS_PER_USER ends the oldest session (revoked) when a new one would exceed it`, async t => {
    const s = setup(kind, { maxPerUser: 3 })
    const created = []
    for (let i = 0; i < 3; i++) {
      created.push(await s.sessions.create(newSession(s.clock)))
      s.clock.advance(1_000)
    }
    const bob = await s.sessions.create(newSession(s.clock, 'auth0|bob'))
    t.same(s.revoked, [], 'within the bound, nothing ends')
    const fourth = await s.sessions.create(newSession(s.clock))
    t.same(s.revoked, [created[0]?.record.refreshToken], 'the oldest session\'s refresh token was revoked')
    t.same(s.ended, [{ event: 'session_ended', reason: 'session_limit', sub: 'auth0|alice', revocation: 'ok' }])
    t.same(s.announced, [storageKey(created[0]?.id ?? '')], 'its tunnels are told')
    t.equal(await s.sessions.load(created[0]?.id ?? ''), undefined, 'the oldest is gone')
    const listed = await s.sessions.listForUser('auth0|alice')
    t.same(listed.map(entry => entry.key), [created[1]?.id, created[2]?.id, fourth.id].map(id => storageKey(id ?? '')), 'the newest three')
    t.ok(await s.sessions.load(bob.id), 'another user\'s session is untouched')
    t.equal(await s.store.countByUser?.('auth0|alice'), 3, 'the user index holds three')
  })

  t.test(`${kind}: a timeout noticed on a request ends the session and revokes at once`, async t => {
    const s = setup(kind)
    const idle = await s.sessions.create(newSession(s.clock))
    s.clock.advance(IDLE)
    t.equal(await s.sessions.load(idle.id), undefined)
    await s.sessions.sweep() // settles revocations in flight; finds nothing more
    t.same(s.revoked, [idle.record.refreshToken])
    t.same(s.ended.map(e => e.reason), ['idle_timeout'])

    const busy = await s.sessions.create(newSession(s.clock))
    for (let i = 0; i < 11; i++) {
      s.clock.advance(5 * MINUTE)
      t.ok(await s.sessions.load(busy.id), 'kept alive by activity')
    }
    s.clock.advance(5 * MINUTE)
    t.equal(await s.sessions.load(busy.id), undefined, 'past its absolute lifetime')
    await s.sessions.sweep()
    t.same(s.revoked, [idle.record.refreshToken, busy.record.refreshToken], 'each revoked once')
    t.same(s.ended.map(e => e.reason), ['idle_timeout', 'absolute_timeout'])
  })

  t.test(`${kind}: the sweeper ends sessions that expired unseen, revokes each once, and keeps live ones`, async t => {
    const s = setup(kind)
    const unseen = await s.sessions.create(newSession(s.clock))
    const noSub = await s.sessions.create(newSession(s.clock, ''))
    s.clock.advance(20 * MINUTE)
    const live = await s.sessions.create(newSession(s.clock))
    t.equal(await s.sessions.sweep(), 0, 'nothing has expired yet')
    t.same(s.revoked, [])
    // The first two are 30 minutes idle (and a millisecond: the LRU counts an entry stale after its TTL), the third 10.
    s.clock.advance(10 * MINUTE + 1)
    await s.sessions.sweep()
    t.same(s.revoked.sort(), [unseen.record.refreshToken, noSub.record.refreshToken].sort(), 'both unseen sessions revoked')
    t.same(s.ended.map(e => e.reason), ['idle_timeout', 'idle_timeout'])
    t.same(s.announced.sort(), [unseen.id, noSub.id].map(storageKey).sort())
    await s.sessions.sweep()
    t.equal(s.revoked.length, 2, 'a second sweep revokes nothing again')
    t.ok(await s.sessions.load(live.id), 'the live session is kept')
  })

  t.test(`${kind}: the refresh token of an ended session is revoked once when ends race`, async t => {
    const s = setup(kind)
    const { id } = await s.sessions.create(newSession(s.clock))
    s.clock.advance(IDLE)
    // A logout, the sweeper and a request noticing the timeout, all at once.
    await Promise.all([s.sessions.end(id, 'logout'), s.sessions.sweep(), s.sessions.load(id), s.sessions.endKey(storageKey(id), 'admin')])
    await s.sessions.sweep()
    t.equal(s.revoked.length, 1, 'revoked once')
    t.equal(s.ended.length, 1, 'one session_ended event')
  })

  t.test(`${kind}: a revocation the IdP refuses is logged and the session still ends`, async t => {
    const s = setup(kind, { revoke: async () => { throw new Error('idp down') } })
    const { id } = await s.sessions.create(newSession(s.clock))
    await s.sessions.end(id, 'logout')
    t.equal(await s.sessions.load(id), undefined)
    t.same(s.ended, [{ event: 'session_ended', reason: 'logout', sub: 'auth0|alice', revocation: 'failed' }])
  })
}

t.test('memory: LRU eviction ends the evicted session (refresh token revoked)', async t => {
  const s = setup('memory', { maxEntries: 2 })
  const first = await s.sessions.create(newSession(s.clock))
  await s.sessions.create(newSession(s.clock, 'auth0|bob'))
  await s.sessions.create(newSession(s.clock, 'auth0|carol'))
  await s.sessions.sweep()
  t.same(s.revoked, [first.record.refreshToken])
  t.same(s.ended, [{ event: 'session_ended', reason: 'evicted', sub: 'auth0|alice', revocation: 'ok' }])
})

t.test('memory: an MFA pending login kept in the store expires without a session_ended', async t => {
  const s = setup('memory')
  await s.store.set('pending', { kind: 'mfa_pending', createdAt: s.clock.now(), lastSeenAt: s.clock.now() } as unknown as SessionRecord, 5 * MINUTE)
  s.clock.advance(10 * MINUTE)
  await s.sessions.sweep()
  t.same(s.ended, [])
  t.equal(await s.store.get('pending'), undefined)
})

t.test('redis: a session hash outlives its expiry by the grace, so the sweeper can still revoke its token', async t => {
  const s = setup('redis')
  const { id, record } = await s.sessions.create(newSession(s.clock))
  const key = storageKey(id)
  s.clock.advance(IDLE + MINUTE)
  await s.sessions.sweep()
  t.same(s.revoked, [record.refreshToken])
  t.equal(await redis.exists(sessionKeyFor(s.keyPrefix, key)), 0, 'taken')
})

t.test('redis: a session touched after its expiry was claimed is scheduled again, not ended', async t => {
  const keyPrefix = `${PREFIX}touch-${randomBytes(3).toString('hex')}:`
  const s = setup('redis', { keyPrefix })
  const { id } = await s.sessions.create(newSession(s.clock))
  // Another replica's clock is ahead: its copy of the expiry says due, while the record was just seen.
  await redis.zadd(expiriesKeyFor(keyPrefix), s.clock.now() - 1, storageKey(id))
  await s.sessions.sweep()
  t.same(s.revoked, [], 'not ended')
  const score = await redis.zscore(expiriesKeyFor(keyPrefix), storageKey(id))
  t.equal(Number(score), s.clock.now() + IDLE, 'scheduled at its real expiry')
  t.ok(await s.sessions.load(id))
})

t.test('redis: a session the store forgot before any sweep is reported lost and its tunnels told', async t => {
  const keyPrefix = `${PREFIX}lost-${randomBytes(3).toString('hex')}:`
  const s = setup('redis', { keyPrefix })
  const { id } = await s.sessions.create(newSession(s.clock))
  await redis.del(sessionKeyFor(keyPrefix, storageKey(id))) // as if every replica had been down past the grace
  s.clock.advance(IDLE + 5 * MINUTE)
  await s.sessions.sweep()
  t.same(s.revoked, [])
  t.same(s.ended, [{ event: 'session_ended', reason: 'expired', revocation: 'lost' }])
  t.same(s.announced, [storageKey(id)])
  t.equal(await redis.zcard(expiriesKeyFor(keyPrefix)), 0, 'the claim removed it')
})

async function racingSweepers (t: Test, count: number): Promise<void> {
  const keyPrefix = `${PREFIX}race-${randomBytes(3).toString('hex')}:`
  const clock = createManualClock()
  // Two replicas: their own clients, stores and Sessions, one Redis, one key prefix, one IdP (a shared tally).
  const tally = new Map<string, number>()
  const revoke = async (token: string): Promise<void> => { tally.set(token, (tally.get(token) ?? 0) + 1) }
  const clientB = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(async () => { await clientB.quit() })
  const a = setup('redis', { keyPrefix, clock, revoke })
  const b = setup('redis', { keyPrefix, clock, revoke, client: clientB })
  const tokens: string[] = []
  for (let i = 0; i < count; i++) {
    const { record } = await (i % 2 === 0 ? a : b).sessions.create(newSession(clock, `auth0|user-${i % 7}`))
    tokens.push(record.refreshToken ?? '')
  }
  clock.advance(IDLE)
  await Promise.all([a.sessions.sweep(), b.sessions.sweep(), a.sessions.sweep(), b.sessions.sweep()])
  t.equal(tally.size, count, 'every token revoked')
  t.same([...tally.values()].filter(n => n !== 1), [], 'none twice')
  t.same([...tally.keys()].sort(), tokens.sort())
  t.ok(a.ended.length > 0 && b.ended.length > 0, `both replicas took part (${a.ended.length} + ${b.ended.length})`)
  t.equal(a.ended.length + b.ended.length, count, 'one session_ended per session')
  t.equal(await redis.zcard(expiriesKeyFor(keyPrefix)), 0)
}

t.test('redis: two sweepers racing over one Redis revoke each token exactly once', async t => {
  await racingSweepers(t, 400)
})

t.test('redis: an end on one replica is announced on the other through the channel', async t => {
  const keyPrefix = `${PREFIX}bus-${randomBytes(3).toString('hex')}:`
  const clock = createManualClock()
  const clientB = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true })
  await clientB.connect()
  const busA = await createRedisEndBus({ client: redis, keyPrefix })
  const busB = await createRedisEndBus({ client: clientB, keyPrefix })
  t.teardown(async () => {
    await busA.close()
    await busB.close()
    await clientB.quit()
  })
  const a = setup('redis', { keyPrefix, clock, bus: busA })
  const b = setup('redis', { keyPrefix, clock, bus: busB, client: clientB })
  const heard = new Promise<string>(resolve => { a.sessions.onEnded(resolve) })
  const { id } = await a.sessions.create(newSession(clock))
  await b.sessions.end(id, 'logout' satisfies EndReason)
  t.equal(await heard, storageKey(id), 'replica A heard replica B end the session')
  t.same(a.revoked, [], 'only the replica that ended it revokes')
  t.equal(b.revoked.length, 1)
  t.same(b.announced, [storageKey(id)], 'B told its own listeners once (its own message is not told twice)')
})

t.test('redis: an MFA pending login kept in the store is neither scheduled nor given the grace', async t => {
  const s = setup('redis')
  await s.store.set('pending', { kind: 'mfa_pending', createdAt: s.clock.now(), lastSeenAt: s.clock.now() } as unknown as SessionRecord, 5 * MINUTE)
  t.equal(await redis.zcard(expiriesKeyFor(s.keyPrefix)), 0, 'not in the sweeper\'s schedule')
  const pttl = await redis.pttl(sessionKeyFor(s.keyPrefix, 'pending'))
  t.ok(pttl > 0 && pttl <= 5 * MINUTE, `its own TTL only (${pttl} ms)`)
  s.clock.advance(10 * MINUTE)
  await s.sessions.sweep()
  t.same(s.ended, [])
})
