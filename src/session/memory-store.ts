import { LRUCache } from 'lru-cache'
import type { SessionRecord, SessionStore } from './session-store.js'
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
 * The embedded default store: bounded by an LRU. Records are copied and frozen on the way in, so a caller
 * mutating its object cannot change what is stored (the same guarantee a serialising store gives), without
 * a parse on every read.
 */
export function createMemoryStore (options: MemoryStoreOptions): MemoryStore {
  const { onEvict } = options
  // The per-user index follows the LRU: whatever leaves the cache (delete, eviction, expiry, overwrite) leaves the index.
  const index = createUserIndex()
  const cache = new LRUCache<string, SessionRecord>({
    max: options.maxEntries,
    ttlAutopurge: false,
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
    async get (key) { return cache.get(key) },
    async set (key, record, ttlMs) {
      put(key, deepFreeze(structuredClone(record)), ttlMs)
    },
    async replace (key, record, ttlMs) {
      if (!cache.has(key)) return false
      put(key, deepFreeze(structuredClone(record)), ttlMs)
      return true
    },
    async touch (key, lastSeenAt, ttlMs) {
      const record = cache.get(key)
      if (record !== undefined) put(key, Object.freeze({ ...record, lastSeenAt }), ttlMs)
    },
    async delete (key) { cache.delete(key) },
    async listByUser (sub) {
      const entries = []
      for (const key of index.keys(sub)) {
        // peek: listing does not make a session recently used. A key whose record is gone or expired is pruned.
        const record = cache.peek(key)
        if (record === undefined || record.sub !== sub) index.remove(sub, key)
        else entries.push({ key, record })
      }
      return entries
    },
    async close () { cache.clear() }
  }
}

/** Freezes nested objects too (user claims), so a record read back cannot be changed in place. */
function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
