import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s steps) on node:crypto: what Google Authenticator and Auth0's OTP factor
 * use. Secrets are RFC 4648 base32, as in `otpauth://` URIs. Small enough not to need a dependency.
 */
export const TOTP_STEP_SEC = 30
export const TOTP_DIGITS = 6

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

export function base32Decode (text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase()
  let bits = 0
  let value = 0
  const out: number[] = []
  for (const char of clean) {
    const index = BASE32.indexOf(char)
    if (index === -1) throw new TypeError('totp: the secret is not base32')
    value = (value << 5) | index
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

/** RFC 4226 HOTP for a counter. */
export function hotp (key: Buffer, counter: number, digits = TOTP_DIGITS): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac('sha1', key).update(message).digest()
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The time step a moment falls in. */
export function totpStep (timeMs: number): number {
  return Math.floor(timeMs / 1000 / TOTP_STEP_SEC)
}

/** The code for a base32 secret at a moment (epoch ms). */
export function totp (secret: string, timeMs: number): string {
  return hotp(base32Decode(secret), totpStep(timeMs))
}

/**
 * The step whose code matches, allowing one step of clock drift either way, or undefined. Callers refuse a step
 * already used (codes are single-use).
 */
export function matchTotp (secret: string, code: string, timeMs: number, window = 1): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined
  const key = base32Decode(secret)
  const now = totpStep(timeMs)
  for (let step = now - window; step <= now + window; step++) {
    if (timingSafeEqual(Buffer.from(hotp(key, step)), Buffer.from(code))) return step
  }
  return undefined
}
