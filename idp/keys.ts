import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { exportJWK } from 'jose'
import type { JWK } from 'jose'

export interface SigningKey {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  jwk: JWK
}

export interface KeyStore {
  current (): SigningKey
  /** Any key still published in the JWKS, by kid. */
  get (kid: string): SigningKey | undefined
  jwks (): { keys: JWK[] }
  /** A new key with a new kid becomes current; the old ones stay published only with keepOld. */
  rotate (opts?: { keepOld?: boolean }): Promise<SigningKey>
}

/**
 * Where RSA key material comes from. Generating a 2048-bit key costs ~0.1-0.5 s of CPU, which dominates test
 * suites that start many IdPs, so by default keys come from a bundled pool of pre-generated dev keys
 * (`demo-keys/signing-keys.pem`), handed out round-robin. Every use still gets a fresh random kid.
 * `generate` creates real fresh keys (the standalone server uses it).
 */
export type KeySource = 'pool' | 'generate'

const POOL_FILE = new URL('./demo-keys/signing-keys.pem', import.meta.url)
// Immutable key material, read once per process; the cursor only spreads instances over the pool.
let pool: KeyObject[] | undefined
let poolCursor = 0

function fromPool (): KeyObject {
  pool ??= (readFileSync(POOL_FILE, 'utf8').match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/g) ?? [])
    .map(pem => createPrivateKey(pem))
  const key = pool[poolCursor++ % pool.length]
  /* c8 ignore next - the bundled pool is never empty */
  if (key === undefined) throw new Error('idp: signing key pool is empty')
  return key
}

async function newKey (source: KeySource): Promise<SigningKey> {
  const privateKey = source === 'pool' ? fromPool() : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const publicKey = createPublicKey(privateKey)
  const kid = randomBytes(12).toString('base64url')
  const exported = await exportJWK(publicKey)
  const jwk: JWK = { kty: 'RSA', n: exported.n, e: exported.e, kid, alg: 'RS256', use: 'sig' }
  return { kid, privateKey, publicKey, jwk }
}

export async function createKeyStore (source: KeySource = 'pool'): Promise<KeyStore> {
  const keys = new Map<string, SigningKey>()
  let current = await newKey(source)
  keys.set(current.kid, current)
  let jwksCache: { keys: JWK[] } = { keys: [current.jwk] }

  return {
    current: () => current,
    get: kid => keys.get(kid),
    jwks: () => jwksCache,
    async rotate (opts = {}) {
      let next = await newKey(source)
      // With a small pool the same material can come round again; skip it so rotation always changes the key.
      while ([...keys.values()].some(k => k.publicKey.equals(next.publicKey))) next = await newKey(source)
      if (opts.keepOld !== true) keys.clear()
      keys.set(next.kid, next)
      current = next
      // Newest first, as Auth0 publishes the current key first.
      jwksCache = { keys: [...keys.values()].reverse().map(k => k.jwk) }
      return next
    }
  }
}
