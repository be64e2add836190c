/**
 * Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a browser that signed in as a user
 * holds a long-lived cookie saying so, and is then judged by its own failed attempts instead of the per-user limit
 * that anyone can exhaust (issue #15, item 12).
 *
 * Value: `<nonce>.<issued>.<mac>`: a random 128-bit nonce (base64url), the issue time (Unix seconds), and an
 * HMAC-SHA256 over both and the user it is for (realm and normalised username). The user is not in the value: the
 * MAC binds it, so a cookie verifies only for the user it was issued to, tells nothing about who that is, and cannot
 * be made without the key. The key is derived (HKDF) from each SESSION_SECRET with a label of its own: the first
 * secret issues, every listed one verifies, and removing a secret from the list revokes every cookie it issued.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Clock } from '../clock.js'
import { deriveKey, normaliseUsername } from '../crypto/identifier-hash.js'

export interface DeviceUser {
  username: string
  realm: string | undefined
}

export interface DeviceCookieOptions {
  /** SESSION_SECRET, newest first. */
  secrets: readonly string[]
  /** How long after issue a cookie is honoured. */
  lifetimeMs: number
  clock: Clock
}

export interface DeviceCookies {
  /** A new cookie value for a user who just proved their password. */
  issue (user: DeviceUser): string
  /**
   * The device's id (a hash of the nonce, for its counter) when `value` is a cookie issued to `user` by a listed secret
   * and within its lifetime; undefined for anything else (another user's, forged, expired, garbage).
   */
  verify (value: unknown, user: DeviceUser): string | undefined
}

/** Nonce (22) + issue time (≤ 11) + MAC (43) + dots; anything longer is not ours. */
const MAX_VALUE_LENGTH = 96
const VALUE_SHAPE = /^([A-Za-z0-9_-]{22})\.(\d{1,11})\.([A-Za-z0-9_-]{43})$/
/** A cookie issued "in the future" by a replica whose clock runs ahead is still accepted within this. */
const CLOCK_SKEW_MS = 60_000

export function createDeviceCookies ({ secrets, lifetimeMs, clock }: DeviceCookieOptions): DeviceCookies {
  if (secrets.length === 0) throw new TypeError('device cookies: at least one secret is needed')
  const keys = secrets.map(secret => deriveKey(secret, 'device-cookie v1'))

  function mac (key: Buffer, nonce: string, issued: string, user: DeviceUser): Buffer {
    return createHmac('sha256', key).update(`${nonce}.${issued}\u0000${user.realm ?? ''}\u0000${normaliseUsername(user.username)}`).digest()
  }

  return {
    issue (user) {
      const nonce = randomBytes(16).toString('base64url')
      const issued = String(Math.floor(clock.now() / 1000))
      // keys[0] exists: checked above.
      return `${nonce}.${issued}.${mac(keys[0] as Buffer, nonce, issued, user).toString('base64url')}`
    },

    verify (value, user) {
      if (typeof value !== 'string' || value.length > MAX_VALUE_LENGTH) return undefined
      const match = VALUE_SHAPE.exec(value)
      if (match === null) return undefined
      const [, nonce = '', issued = '', given = ''] = match
      const issuedMs = Number(issued) * 1000
      const now = clock.now()
      if (issuedMs > now + CLOCK_SKEW_MS || now - issuedMs > lifetimeMs) return undefined
      const presented = Buffer.from(given, 'base64url')
      // Every key is tried (no early exit), so the time taken does not say which secret issued it.
      let valid = false
      for (const key of keys) valid = timingSafeEqual(mac(key, nonce, issued, user), presented) || valid
      return valid ? createHash('sha256').update(`device\u0000${nonce}`).digest('base64url').slice(0, 32) : undefined
    }
  }
}
