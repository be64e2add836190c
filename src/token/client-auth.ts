import { randomUUID } from 'node:crypto'
import { importPKCS8, SignJWT, type CryptoKey } from 'jose'
import type { Clock } from '../clock.js'

export type ClientAuthentication =
  | { readonly method: 'client_secret_post', readonly clientId: string, readonly clientSecret: string }
  | { readonly method: 'client_secret_basic', readonly clientId: string, readonly clientSecret: string }
  | { readonly method: 'private_key_jwt', readonly clientId: string, readonly key: CryptoKey, readonly alg: string, readonly audience: string }

/** Client assertions live one minute (Auth0 allows at most five). */
const ASSERTION_LIFETIME_SEC = 60

export async function importAssertionKey (pem: string, alg: string): Promise<CryptoKey> {
  return await importPKCS8(pem, alg)
}

/**
 * Adds the client's credentials to a token, revoke or MFA request: body parameters and, for
 * client_secret_basic, the Authorization header. Every private_key_jwt assertion is new (fresh jti).
 */
export async function authenticateClient (
  auth: ClientAuthentication, clock: Clock
): Promise<{ params: Record<string, string>, headers: Record<string, string> }> {
  switch (auth.method) {
    case 'client_secret_post':
      return { params: { client_id: auth.clientId, client_secret: auth.clientSecret }, headers: {} }
    case 'client_secret_basic': {
      // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
      const credentials = `${formEncode(auth.clientId)}:${formEncode(auth.clientSecret)}`
      return { params: { client_id: auth.clientId }, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } }
    }
    case 'private_key_jwt': {
      const now = Math.floor(clock.now() / 1000)
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: auth.alg, typ: 'JWT' })
        .setIssuer(auth.clientId)
        .setSubject(auth.clientId)
        .setAudience(auth.audience)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(now + ASSERTION_LIFETIME_SEC)
        .sign(auth.key)
      return {
        params: {
          client_id: auth.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion
        },
        headers: {}
      }
    }
  }
}

function formEncode (value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2)
}
