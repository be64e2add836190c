import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from '../clock.js'
import type { SessionRecord, SessionStore } from './session-store.js'
import { copyRecord } from './record-copy.js'
import { createUserIndex } from './user-index.js'

export interface MemoryStoreOptions {
  /** The most sessions kept; the least recently used is evicted beyond it. */
  readonly maxEntries: number
  /** Called with a record the store dropped to stay within its bound. */
  readonly onEvict?: (key: string, record: SessionRecord) => void
  /**
   * Called with every record the store dropped on its own: to stay within its bound (`evicted`), or because its TTL
   * ran out (`expired`: noticed on a read or by claimExpired). Not for delete, take or overwrite.
   */
  readonly onDrop?: (key: string, record: SessionRecord, reason: 'evicted' | 'expired') => void
  /** The clock TTLs run on (the Sessions layer's, so a test clock expires entries too). Default: the system's. */
  readonly clock?: Clock
}

export interface MemoryStore extends SessionStore {
  readonly size: number
}

/**
 * The embedded default store: bounded by an LRU. Records are copied on the way in and on the way out, so a caller
 * mutating its object cannot change what is stored (the same guarantee a serialising store gives), without a parse on
 * every read. Copies, not frozen objects: on Node 20, V8 keeps a frozen record in a larger dictionary layout (about 700
 * bytes more per session, measured), while copying a record costs a fraction of a microsecond. Strings are immutable
 * and shared between copies.
 */
export function createMemoryStore (options: MemoryStoreOptions): MemoryStore {
  const { onEvict, onDrop } = options
  const clock = options.clock ?? systemClock
  // The per-user index follows the LRU: whatever leaves the cache (delete, eviction, expiry, overwrite) leaves the index.
  const index = createUserIndex()
  const cache = new LRUCache<string, SessionRecord>({
    max: options.maxEntries,
    ttlAutopurge: false,
    // TTLs run on the Sessions layer's clock (so a test clock's jump expires entries at once), read on every check: a
    // Date.now() is cheap, and caching it (ttlResolution > 0) costs a timer each time the cached value is renewed.
    perf: { now: () => clock.now() },
    ttlResolution: 0,
    dispose: (record, key, reason) => {
      index.remove(record.sub, key)
      if (reason === 'evict') {
        onEvict?.(key, record)
        onDrop?.(key, record, 'evicted')
      } else if (reason === 'expire') {
        onDrop?.(key, record, 'expired')
      }
    }
  })
  const put = (key: string, record: SessionRecord, ttlMs: number): void => {
    cache.set(key, record, { ttl: ttlMs })
    index.add(record.sub, key)
  }
  return {
    get size () { return cache.size },
    async get (key) {
      // An entry past its TTL is still handed out (and left in place): the reader sees the timeout and ends the session
      // itself, revoking its token before it answers, rather than the cache dropping it behind its back.
      const record = cache.get(key, { allowStale: true, noDeleteOnStaleGet: true })
      return record === undefined ? undefined : copyRecord(record)
    },
    async set (key, record, ttlMs) {
      put(key, copyRecord(record), ttlMs)
    },
    async replace (key, record, ttlMs) {
      if (!cache.has(key)) return false
      put(key, copyRecord(record), ttlMs)
      return true
    },
    async touch (key, lastSeenAt, ttlMs) {
      const record = cache.get(key)
      if (record !== undefined) put(key, { ...record, lastSeenAt }, ttlMs)
    },
    async delete (key) { cache.delete(key) },
    async take (key) {
      // A stale entry is still taken (and its token revoked) rather than dropped as expired.
      const record = cache.peek(key, { allowStale: true })
      if (record === undefined) return undefined
      cache.delete(key)
      return record
    },
    async claimExpired () {
      // Expired entries leave through dispose (onDrop 'expired'), which ends them: nothing to hand out.
      cache.purgeStale()
      return []
    },
    async countByUser (sub) { return index.count(sub) },
    async listByUser (sub) {
      const entries = []
      for (const key of index.keys(sub)) {
        // peek: listing does not make a session recently used. A key whose record is gone or expired is pruned.
        const record = cache.peek(key)
        if (record === undefined || record.sub !== sub) index.remove(sub, key)
        else entries.push({ key, record: copyRecord(record) })
      }
      return entries
    },
    async close () { cache.clear() }
  }
}
