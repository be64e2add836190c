import { LRUCache } from 'lru-cache'
import type { SessionRecord, SessionStore } from './session-store.js'

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
  const cache = new LRUCache<string, SessionRecord>({
    max: options.maxEntries,
    ttlAutopurge: false,
    dispose: onEvict === undefined
      ? undefined
      : (record, key, reason) => { if (reason === 'evict') onEvict(key, record) }
  })
  return {
    get size () { return cache.size },
    async get (key) { return cache.get(key) },
    async set (key, record, ttlMs) {
      cache.set(key, deepFreeze(structuredClone(record)), { ttl: ttlMs })
    },
    async touch (key, lastSeenAt, ttlMs) {
      const record = cache.get(key)
      if (record !== undefined) cache.set(key, Object.freeze({ ...record, lastSeenAt }), { ttl: ttlMs })
    },
    async delete (key) { cache.delete(key) },
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
