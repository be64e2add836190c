/**
 * Keyed hashes of user identifiers (usernames) for logs and Redis keys (issue #15, item 13). A plain SHA-256 of an
 * e-mail address is recovered by hashing guesses; an HMAC under a server key is not. The key is derived (HKDF) from
 * LOG_HASH_KEY, or else from the first SESSION_SECRET, with a label of its own: the cookie-signing secret itself is
 * never used raw for this second purpose. Every replica configured alike derives the same key, so the Redis throttle
 * keys are shared by replicas. Hashes of random ids (session ids, pending logins) need no key and do not use this.
 */
import { createHmac, hkdfSync } from 'node:crypto'

/** HKDF salt: fixed, names the application (the input secrets are long and random, RFC 5869 §3.1). */
const HKDF_SALT = 'bff-token-gateway'

/** A 32-byte key for one purpose (`label`), derived from a secret with HKDF-SHA256. */
export function deriveKey (secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, label, 32))
}

/** A username as the gateway compares them: Unicode-normalised (NFKC), trimmed, case-folded. */
export function normaliseUsername (username: string): string {
  return username.normalize('NFKC').trim().toLowerCase()
}

export interface IdentifierHasher {
  /** The `user` field of log lines: 12 base64url characters (72 bits), stable while the key is. */
  forLog (username: string): string
  /** A throttle counter's key for a username in a realm: 32 base64url characters (192 bits). */
  forThrottle (username: string, realm: string | undefined): string
}

/** Hashes under a key derived from `secret` (LOG_HASH_KEY, or the first SESSION_SECRET). */
export function createIdentifierHasher (secret: string): IdentifierHasher {
  const key = deriveKey(secret, 'identifier-hash v1')
  const mac = (purpose: string, value: string): string => createHmac('sha256', key).update(`${purpose}\u0000${value}`).digest('base64url')
  return {
    forLog: username => mac('log', normaliseUsername(username)).slice(0, 12),
    forThrottle: (username, realm) => mac('throttle-user', `${realm ?? ''}\u0000${normaliseUsername(username)}`).slice(0, 32)
  }
}
