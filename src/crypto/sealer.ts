/**
 * Authenticated encryption for values kept outside the process (the Redis session store): AES-256-GCM with a
 * random 96-bit IV per value. Keys rotate as a list, like the cookie secrets: the first seals, all open.
 * A sealed value is `<keyId>.<base64url(iv | ciphertext | tag)>`; the key id is derived from the key (not secret),
 * so opening picks the right key without trying them all, and a value sealed under a removed key is simply unreadable.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

export const ENCRYPTION_KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16
const ALGORITHM = 'aes-256-gcm'

export interface Sealer {
  /** Encrypts with the first key. `context` (e.g. the storage key) is authenticated, not stored: open needs the same. */
  seal (plaintext: string, context?: string): string
  /** The plaintext, or undefined when no configured key opens the value or it was altered (or moved to another context). */
  open (sealed: string, context?: string): string | undefined
  /** Ids of the configured keys, the sealing key first (safe to log). */
  readonly keyIds: readonly string[]
}

/** A short public id for a key: the first 48 bits of a SHA-256 over a label and the key, base64url. */
export function keyId (key: Uint8Array): string {
  return createHash('sha256').update('bff-sealer-key-id\0').update(key).digest('base64url').slice(0, 8)
}

/**
 * Decodes one SESSION_ENCRYPTION_KEY entry (base64 or base64url of 32 random bytes).
 * Returns a message saying what is wrong instead of throwing, so the config loader can name the variable.
 */
export function decodeEncryptionKey (text: string): Buffer | string {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return 'expected base64 or base64url'
  const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
  if (key.length !== ENCRYPTION_KEY_BYTES) return `expected ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`
  return key
}

export function createSealer (keys: readonly Uint8Array[]): Sealer {
  if (keys.length === 0) throw new TypeError('createSealer: at least one key is required')
  const byId = new Map<string, Buffer>()
  for (const key of keys) {
    if (key.length !== ENCRYPTION_KEY_BYTES) throw new TypeError(`createSealer: every key must be ${ENCRYPTION_KEY_BYTES} bytes`)
    const id = keyId(key)
    if (!byId.has(id)) byId.set(id, Buffer.from(key))
  }
  const ids = [...byId.keys()]
  const sealingId = ids[0] ?? ''
  const sealingKey = byId.get(sealingId) ?? Buffer.alloc(0)

  return {
    keyIds: ids,
    seal (plaintext, context = '') {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv(ALGORITHM, sealingKey, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(Buffer.from(context, 'utf8'))
      const body = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `${sealingId}.${body.toString('base64url')}`
    },
    open (sealed, context = '') {
      const dot = sealed.indexOf('.')
      if (dot < 0) return undefined
      const key = byId.get(sealed.slice(0, dot))
      if (key === undefined) return undefined
      const body = Buffer.from(sealed.slice(dot + 1), 'base64url')
      if (body.length < IV_BYTES + TAG_BYTES) return undefined
      try {
        const decipher = createDecipheriv(ALGORITHM, key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
        decipher.setAAD(Buffer.from(context, 'utf8'))
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
        return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8')
      } catch {
        return undefined
      }
    }
  }
}
