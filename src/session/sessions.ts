import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { isWellFormedSessionId, newSessionId, storageKey } from './session-id.js'
import type { SessionRecord, SessionStore, UserSessionEntry } from './session-store.js'

export interface SessionsOptions {
  readonly store: SessionStore
  readonly clock: Clock
  readonly idleTimeoutMs: number
  readonly absoluteTimeoutMs: number
  /** Called when a stored session was last active in the future (only an altered store value is); it is ended. */
  readonly onImpossibleActivity?: (reason: string) => void
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
  destroy (id: string): Promise<void>
  /** The storage key of a session id (SHA-256, cached). */
  keyOf (id: string): string
  /**
   * A user's live sessions, oldest first, from the store's per-user index; sessions past their idle or absolute
   * timeout are deleted on the way. Empty for an empty sub, or a store without an index.
   */
  listForUser (sub: string): Promise<UserSessionEntry[]>
  /** Deletes a session by its storage key (what listForUser gives). */
  destroyKey (key: string): Promise<void>
}

/**
 * Activity is written back at most this often per session, so a busy session does not cost a store write on
 * every request; the idle timeout is therefore exact to within this much.
 */
const TOUCH_INTERVAL_CAP_MS = 60_000
/** Activity up to this far ahead of the clock is another replica's clock running ahead; further is impossible. */
const FUTURE_ACTIVITY_TOLERANCE_MS = 60_000
const STORAGE_KEY_CACHE_SIZE = 10_000

/** Session lifecycle on top of any SessionStore: ids, hashed keys, idle and absolute timeouts. */
export function createSessions (options: SessionsOptions): Sessions {
  const { store, clock, idleTimeoutMs, absoluteTimeoutMs } = options
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

  /** Past its idle or absolute timeout, or last active in the future (issue #15): a session that has ended. */
  const ended = (record: SessionRecord, now: number): boolean => {
    if (record.lastSeenAt > now + FUTURE_ACTIVITY_TOLERANCE_MS) {
      options.onImpossibleActivity?.('in the future')
      return true
    }
    return now >= record.absoluteExpiresAt || now - record.lastSeenAt >= idleTimeoutMs
  }

  const ttlFor = (record: SessionRecord, now: number): number =>
    Math.max(1, Math.min(record.absoluteExpiresAt, now + idleTimeoutMs) - now)

  return {
    async create (session) {
      const now = clock.now()
      const id = newSessionId()
      const record: SessionRecord = { ...session, createdAt: now, absoluteExpiresAt: now + absoluteTimeoutMs, lastSeenAt: now, version: 0 }
      await store.set(keyOf(id), record, ttlFor(record, now))
      return { id, record }
    },

    async load (id) {
      if (!isWellFormedSessionId(id)) return undefined
      const key = keyOf(id)
      const record = await store.get(key)
      if (record === undefined) return undefined
      const now = clock.now()
      if (ended(record, now)) {
        await store.delete(key)
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

    async destroy (id) {
      if (isWellFormedSessionId(id)) await store.delete(keyOf(id))
    },

    keyOf,

    async listForUser (sub) {
      if (sub === '' || store.listByUser === undefined) return []
      const now = clock.now()
      const live: UserSessionEntry[] = []
      for (const entry of await store.listByUser(sub)) {
        const { record } = entry
        if (ended(record, now)) await store.delete(entry.key)
        else live.push(entry)
      }
      return live.sort((a, b) => a.record.createdAt - b.record.createdAt)
    },

    async destroyKey (key) {
      await store.delete(key)
    }
  }
}
