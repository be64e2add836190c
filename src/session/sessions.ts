import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { isWellFormedSessionId, newSessionId, storageKey } from './session-id.js'
import { createSessionEnder, isSessionRecord, type EndContext, type EndListener, type EndReason, type SessionEnder } from './session-end.js'
import type { SessionRecord, SessionStore, UserSessionEntry } from './session-store.js'

export interface SessionsOptions {
  readonly store: SessionStore
  readonly clock: Clock
  readonly idleTimeoutMs: number
  readonly absoluteTimeoutMs: number
  /** Called when a stored session was last active in the future (only an altered store value is); it is ended. */
  readonly onImpossibleActivity?: (reason: string) => void
  /** Where every end of a session goes (revocation, the session_ended event, tunnels, other replicas). Default: one without a revoker, bus or logs. */
  readonly ender?: SessionEnder
  /** MAX_SESSIONS_PER_USER: a new session beyond it ends the user's oldest. Default 50. */
  readonly maxPerUser?: number
}

export type NewSession = Omit<SessionRecord, 'createdAt' | 'absoluteExpiresAt' | 'lastSeenAt' | 'version'>

export interface Sessions {
  /** Stores a new session under a fresh random id and returns the id (the cookie value). */
  create (session: NewSession): Promise<{ id: string, record: SessionRecord }>
  /** The live session for an id, or undefined; enforces the idle and absolute timeouts and records activity. */
  load (id: string): Promise<SessionRecord | undefined>
  /** Reads without recording activity or enforcing timeouts (used by refresh to re-read a record). */
  peek (id: string): Promise<SessionRecord | undefined>
  /** Replaces a live session's record. */
  save (id: string, record: SessionRecord): Promise<void>
  /** Replaces the record only if the session still exists (atomically where the store can); false if it is gone. */
  saveIfLive (id: string, record: SessionRecord): Promise<boolean>
  /**
   * Ends a session (see session-end.ts): takes it out of the store and, if this call took it, revokes its refresh
   * token, logs `session_ended` with the reason and closes its tunnels everywhere. Resolves once revoked.
   */
  end (id: string, reason: EndReason, context?: EndContext): Promise<void>
  /** end() by storage key (what listForUser gives). */
  endKey (key: string, reason: EndReason, context?: EndContext): Promise<void>
  /** The storage key of a session id (SHA-256, cached). */
  keyOf (id: string): string
  /**
   * A user's live sessions, oldest first, from the store's per-user index; sessions past their idle or absolute
   * timeout are ended on the way. At most MAX_SESSIONS_PER_USER. Empty for an empty sub, or a store without an index.
   */
  listForUser (sub: string): Promise<UserSessionEntry[]>
  /** Whether the session stored under a key is live (no activity recorded). */
  isLiveKey (key: string): Promise<boolean>
  /**
   * One pass of the sweeper: ends the sessions that expired without being seen (revoking their refresh tokens).
   * Returns how many keys it was handed.
   */
  sweep (): Promise<number>
  /** A record the store dropped by itself (memory store: eviction, expiry): ended without taking. */
  dropped (key: string, record: SessionRecord, reason: 'evicted' | 'expired'): void
  /** Listens to session ends, here and on the other replicas (the tunnel registry). */
  onEnded (listener: EndListener): () => void
}

/**
 * Activity is written back at most this often per session, so a busy session does not cost a store write on
 * every request; the idle timeout is therefore exact to within this much.
 */
const TOUCH_INTERVAL_CAP_MS = 60_000
/** Activity up to this far ahead of the clock is another replica's clock running ahead; further is impossible. */
const FUTURE_ACTIVITY_TOLERANCE_MS = 60_000
const STORAGE_KEY_CACHE_SIZE = 10_000
const DEFAULT_MAX_PER_USER = 50
/**
 * The sweeper claims this many expired keys per store call and ends them in parallel (so as many revocations at once
 * at most); a claimed key this replica dies before ending is left to Redis' TTL, so batches stay small.
 */
const SWEEP_BATCH = 20
/** At most this many batches per sweep: a backlog (after an outage) waits for the next sweeps, not the shutdown. */
const SWEEP_MAX_BATCHES = 50

/** Session lifecycle on top of any SessionStore: ids, hashed keys, idle and absolute timeouts. */
export function createSessions (options: SessionsOptions): Sessions {
  const { store, clock, idleTimeoutMs, absoluteTimeoutMs } = options
  const ender = options.ender ?? createSessionEnder({ log: { info () {}, warn () {} } })
  const maxPerUser = options.maxPerUser ?? DEFAULT_MAX_PER_USER
  const touchIntervalMs = Math.min(TOUCH_INTERVAL_CAP_MS, Math.floor(idleTimeoutMs / 10))

  // Every request needs its session's storage key; hashing once per session rather than once per request.
  const keys = new LRUCache<string, string>({ max: STORAGE_KEY_CACHE_SIZE })
  const keyOf = (id: string): string => {
    let key = keys.get(id)
    if (key === undefined) {
      key = storageKey(id)
      keys.set(id, key)
    }
    return key
  }

  // The store forgets a session when it expires by its last recorded activity: the sweeper finds it then.
  const ttlFor = (record: SessionRecord, now: number): number =>
    Math.max(1, Math.min(record.absoluteExpiresAt, record.lastSeenAt + idleTimeoutMs) - now)

  /**
   * Which timeout a record is past, if any. A session last active in the future (only an altered store value is,
   * issue #15) is treated as past its idle timeout, and reported.
   */
  const expiredBy = (record: SessionRecord, now: number): 'idle_timeout' | 'absolute_timeout' | undefined => {
    if (record.lastSeenAt > now + FUTURE_ACTIVITY_TOLERANCE_MS) {
      options.onImpossibleActivity?.('in the future')
      return 'idle_timeout'
    }
    return now >= record.absoluteExpiresAt ? 'absolute_timeout' : now - record.lastSeenAt >= idleTimeoutMs ? 'idle_timeout' : undefined
  }

  const take = async (key: string): Promise<SessionRecord | undefined> => {
    if (store.take !== undefined) return await store.take(key)
    const record = await store.get(key)
    await store.delete(key)
    return record
  }

  const endKey = async (key: string, reason: EndReason, context?: EndContext): Promise<void> => {
    const record = await take(key)
    // Not taken here: already ended by someone else (who revoked), or not a session at all.
    if (record === undefined || !isSessionRecord(record)) return
    await ender.finish(key, record, reason, context)
  }

  /**
   * A user's live sessions, oldest first, at most maxPerUser: the timed-out ones and the oldest beyond the bound are
   * ended on the way (never `keep`, the session being created).
   */
  async function listForUser (sub: string, keep?: string): Promise<UserSessionEntry[]> {
    if (sub === '' || store.listByUser === undefined) return []
    const now = clock.now()
    const live: UserSessionEntry[] = []
    for (const entry of await store.listByUser(sub)) {
      const expired = expiredBy(entry.record, now)
      if (expired !== undefined) await endKey(entry.key, expired)
      else live.push(entry)
    }
    live.sort((a, b) => a.record.createdAt - b.record.createdAt)
    if (live.length <= maxPerUser) return live
    const excess = live.filter(entry => entry.key !== keep).slice(0, live.length - maxPerUser)
    await Promise.all(excess.map(async entry => { await endKey(entry.key, 'session_limit') }))
    return live.filter(entry => !excess.includes(entry))
  }

  return {
    async create (session) {
      const now = clock.now()
      const id = newSessionId()
      const record: SessionRecord = { ...session, createdAt: now, absoluteExpiresAt: now + absoluteTimeoutMs, lastSeenAt: now, version: 0 }
      const key = keyOf(id)
      await store.set(key, record, ttlFor(record, now))
      // MAX_SESSIONS_PER_USER: counted first (one SCARD with Redis), listed and trimmed only beyond it.
      if (record.sub !== '' && store.countByUser !== undefined && await store.countByUser(record.sub) > maxPerUser) await listForUser(record.sub, key)
      return { id, record }
    },

    async load (id) {
      if (!isWellFormedSessionId(id)) return undefined
      const key = keyOf(id)
      const record = await store.get(key)
      if (record === undefined) return undefined
      const now = clock.now()
      const expired = expiredBy(record, now)
      if (expired !== undefined) {
        // Noticed on a request: ended (and revoked) now rather than at the next sweep.
        await endKey(key, expired)
        return undefined
      }
      if (now - record.lastSeenAt >= touchIntervalMs) {
        const touched = { ...record, lastSeenAt: now }
        await store.touch(key, now, ttlFor(touched, now))
        return touched
      }
      return record
    },

    async peek (id) {
      return isWellFormedSessionId(id) ? await store.get(keyOf(id)) : undefined
    },

    async save (id, record) {
      const now = clock.now()
      await store.set(keyOf(id), record, ttlFor(record, now))
    },

    async saveIfLive (id, record) {
      const key = keyOf(id)
      const ttlMs = ttlFor(record, clock.now())
      if (store.replace !== undefined) return await store.replace(key, record, ttlMs)
      if (await store.get(key) === undefined) return false
      await store.set(key, record, ttlMs)
      return true
    },

    async end (id, reason, context) {
      if (isWellFormedSessionId(id)) await endKey(keyOf(id), reason, context)
    },

    endKey,

    keyOf,

    listForUser: async sub => await listForUser(sub),

    async isLiveKey (key) {
      const record = await store.get(key)
      return record !== undefined && expiredBy(record, clock.now()) === undefined
    },

    async sweep () {
      if (store.claimExpired === undefined) return 0
      let claimed = 0
      for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
        const now = clock.now()
        const keys = await store.claimExpired(now, SWEEP_BATCH)
        claimed += keys.length
        await Promise.all(keys.map(async ({ key, overdue }) => {
          const record = await store.get(key)
          if (record === undefined) {
            // Ended meanwhile by someone who took it (and announced it); or forgotten by the store: lost.
            if (overdue) await ender.lost(key)
            return
          }
          if (!isSessionRecord(record)) return
          const expired = expiredBy(record, now)
          // Touched after its expiry was claimed (the claim removed it from the schedule): scheduled again.
          if (expired === undefined) await store.touch(key, record.lastSeenAt, ttlFor(record, now))
          else await endKey(key, expired)
        }))
        if (keys.length < SWEEP_BATCH) break
      }
      // The memory store's expired entries end through dropped(): their revocations are in flight.
      await ender.drain()
      return claimed
    },

    dropped (key, record, reason) {
      if (!isSessionRecord(record)) return
      const ended = reason === 'evicted' ? 'evicted' : expiredBy(record, clock.now()) ?? 'idle_timeout'
      void ender.finish(key, record, ended)
    },

    onEnded: listener => ender.onEnded(listener)
  }
}
