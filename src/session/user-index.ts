/**
 * The per-user index of sessions (issue #11): which storage keys belong to a `sub`, so a user can list and end their
 * own sessions and an operator can end all of a user's sessions. The memory store keeps it in a Map next to its LRU;
 * the Redis store keeps one set per user (see userIndexKeyFor). Also the opaque per-session handle clients see: a
 * label that is safe to list, not a credential (the signed session id of header sessions is: src/session/header-session.ts).
 */
import { createHash, createHmac } from 'node:crypto'
import { deriveKey } from '../crypto/identifier-hash.js'

export interface UserIndex {
  add (sub: string, key: string): void
  remove (sub: string, key: string): void
  /** The storage keys indexed for a user (a copy; may name sessions that are gone). */
  keys (sub: string): string[]
  /** How many keys are indexed for a user. */
  count (sub: string): number
  /** Users with at least one indexed key. */
  readonly users: number
}

/**
 * Whether a record's `sub` goes into the index: only a non-empty string. Sessions without an id_token have an empty
 * sub, and other record kinds kept in the same store (MFA pending logins) have none at all.
 */
export function isIndexedUser (sub: unknown): sub is string {
  return typeof sub === 'string' && sub !== ''
}

/**
 * In-process index: sub → its storage keys. An empty sub (a session without an id_token) is never indexed: it would
 * put every such session under one "user". Most users have one session, so a lone key is kept as a string and a Set
 * only made for a second one (a Set costs about 150 bytes more per user, measured on Node 20).
 */
export function createUserIndex (): UserIndex {
  const byUser = new Map<string, string | Set<string>>()
  return {
    add (sub, key) {
      if (!isIndexedUser(sub)) return
      const keys = byUser.get(sub)
      if (keys === undefined || keys === key) byUser.set(sub, key)
      else if (typeof keys === 'string') byUser.set(sub, new Set([keys, key]))
      else keys.add(key)
    },
    remove (sub, key) {
      const keys = byUser.get(sub)
      if (keys === key) {
        byUser.delete(sub)
      } else if (keys instanceof Set) {
        keys.delete(key)
        if (keys.size === 0) byUser.delete(sub)
      }
    },
    keys (sub) {
      const keys = byUser.get(sub)
      return keys === undefined ? [] : typeof keys === 'string' ? [keys] : [...keys]
    },
    count (sub) {
      const keys = byUser.get(sub)
      return keys === undefined ? 0 : typeof keys === 'string' ? 1 : keys.size
    },
    get users () { return byUser.size }
  }
}

/**
 * The Redis key of a user's index: `<prefix>user:<SHA-256 of the sub>`, a set of storage keys. The sub is hashed so a
 * key listing shows no user identifier.
 */
export function userIndexKeyFor (keyPrefix: string, sub: string): string {
  return `${keyPrefix}user:${createHash('sha256').update(sub).digest('base64url')}`
}

/**
 * The key session handles are made with: derived (HKDF) from the first SESSION_SECRET with a label of its own, so
 * the cookie-signing secret is never used raw for this second purpose.
 */
export function sessionHandleKey (secret: string): Buffer {
  return deriveKey(secret, 'session-handle v1')
}

/**
 * The opaque handle of a session in `GET /session/all` and the admin API: an HMAC of the storage key under the
 * handle key (sessionHandleKey). It is neither the session id nor its storage key, cannot be turned into either, and
 * is stable while the first SESSION_SECRET is. 128 bits, base64url (22 characters).
 */
export function sessionHandleOf (handleKey: Buffer, key: string): string {
  return createHmac('sha256', handleKey).update(key).digest('base64url').slice(0, 22)
}

/** True for strings shaped like a handle from sessionHandleOf. */
export function isWellFormedHandle (value: string): boolean {
  return value.length === 22 && /^[A-Za-z0-9_-]+$/.test(value)
}
