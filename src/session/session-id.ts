import { createHash, randomBytes } from 'node:crypto'

/** A new session id: 256 random bits, base64url (43 characters). */
export function newSessionId (): string {
  return randomBytes(32).toString('base64url')
}

/**
 * The key a session is stored under: a SHA-256 of its id, so a listing or dump of the store holds no value
 * that works as a cookie.
 */
export function storageKey (id: string): string {
  return createHash('sha256').update(id).digest('base64url')
}

/** True for strings shaped like an id newSessionId() makes; anything else is not worth a store lookup. */
export function isWellFormedSessionId (value: string): boolean {
  return value.length === 43 && /^[A-Za-z0-9_-]+$/.test(value)
}
