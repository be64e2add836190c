import { LRUCache } from 'lru-cache'
import type { SessionRecord, SessionStore } from './session-store.js'
import { copyRecord } from './record-copy.js'
import { createUserIndex } from './user-index.js'

export interface MemoryStoreOptions {
  /** The most sessions kept; the least recently used is evicted beyond it. */
  readonly maxEntries: number
  /** Called with a record the store dropped to stay within its bound. */
  readonly onEvict?: (key: string, record: SessionRecord) => void
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
  const { onEvict } = options
  // The per-user index follows the LRU: whatever leaves the cache (delete, eviction, expiry, overwrite) leaves the index.
  const index = createUserIndex()
  const cache = new LRUCache<string, SessionRecord>({
    max: options.maxEntries,
    ttlAutopurge: false,
    // The Sessions layer enforces the timeouts on its own clock; this TTL only collects garbage, so a second is precise
    // enough. The default (1 ms) makes a busy store start a timer every millisecond to refresh its idea of now.
    ttlResolution: 1_000,
    dispose: (record, key, reason) => {
      index.remove(record.sub, key)
      if (reason === 'evict') onEvict?.(key, record)
    }
  })
  const put = (key: string, record: SessionRecord, ttlMs: number): void => {
    cache.set(key, record, { ttl: ttlMs })
    index.add(record.sub, key)
  }
  return {
    get size () { return cache.size },
    async get (key) {
      const record = cache.get(key)
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
