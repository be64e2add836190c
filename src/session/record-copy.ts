/**
 * Copies of session records for stores that keep records in memory (the memory store, the Redis store's cache of
 * opened records): a caller that mutates a record it was handed cannot change what the store keeps. The objects are
 * copied; strings are immutable and shared.
 */
import type { SessionRecord } from './session-store.js'

/** A record with its own objects (the user claims may nest), and `changes` applied; the strings are shared. */
export function copyRecord (record: SessionRecord, changes?: Partial<Pick<SessionRecord, 'lastSeenAt'>>): SessionRecord {
  return { ...record, ...changes, user: copyJson(record.user) as SessionRecord['user'] }
}

/** A copy of a JSON value's objects and arrays. */
function copyJson (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(copyJson)
  // A spread keeps the compact layout of the original; only nested objects need copies of their own.
  const copy: Record<string, unknown> = { ...value }
  for (const name in copy) {
    const child = copy[name]
    if (child !== null && typeof child === 'object') copy[name] = copyJson(child)
  }
  return copy
}
