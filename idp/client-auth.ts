import { createHash, timingSafeEqual } from 'node:crypto'
import { decodeJwt, jwtVerify } from 'jose'
import type { Clock } from '../src/clock.js'
import type { ClientRegistry, RegisteredClient } from './clients.js'
import { invalidClient, invalidRequest, wrongSecret } from './errors.js'
import type { TokenEndpointAuthMethod } from './types.js'

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
export const ASSERTION_ALGORITHMS = ['RS256', 'RS384', 'PS256']
const MAX_ASSERTION_BYTES = 2048
const MAX_ASSERTION_LIFETIME_SEC = 300
const ASSERTION_SKEW_SEC = 10
const MAX_CLAIM_LENGTH = 64

export interface AuthenticatedClient {
  client: RegisteredClient
  method: TokenEndpointAuthMethod
  /** Authenticated with a secret or an assertion (not `none`). */
  confidential: boolean
}

export interface ClientAuthRequest {
  authorization: string | undefined
  form: Record<string, string>
}

export interface ClientAuthenticator {
  authenticate (req: ClientAuthRequest): Promise<AuthenticatedClient>
}

export interface ClientAuthOptions {
  clients: ClientRegistry
  clock: Clock
  /** Valid `aud` values for assertions: the issuer (with trailing slash) and the endpoint URLs. Read per request. */
  audiences: () => string[]
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
function formDecode (s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '))
}

export function parseBasic (header: string): { id: string, secret: string } {
  const encoded = header.slice(6).trim()
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) throw invalidClient('Malformed Basic authorization header.')
  try {
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    throw invalidClient('Malformed Basic authorization header.')
  }
}

function sameSecret (a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest()
  const db = createHash('sha256').update(b, 'utf8').digest()
  return timingSafeEqual(da, db)
}

function assertionClientId (assertion: string): string | undefined {
  try {
    const claims = decodeJwt(assertion)
    return typeof claims.sub === 'string' ? claims.sub : typeof claims.iss === 'string' ? claims.iss : undefined
  } catch {
    return undefined
  }
}

export function createClientAuthenticator (opts: ClientAuthOptions): ClientAuthenticator {
  const { clients, clock } = opts
  // jti replay cache in insertion order; expired entries are pruned from the front (amortised O(1)).
  const usedJtis = new Map<string, number>()

  function pruneJtis (nowSec: number): void {
    for (const [key, exp] of usedJtis) {
      if (exp + ASSERTION_SKEW_SEC >= nowSec) break
      usedJtis.delete(key)
    }
  }

  async function verifyAssertion (client: RegisteredClient, form: Record<string, string>): Promise<void> {
    const assertion = form.client_assertion ?? ''
    if (form.client_assertion_type !== JWT_BEARER_ASSERTION_TYPE) {
      throw invalidRequest(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`)
    }
    if (Buffer.byteLength(assertion) > MAX_ASSERTION_BYTES) throw invalidClient('client_assertion is too large.')
    /* c8 ignore next - registry guarantees a key for private_key_jwt clients */
    if (client.publicKey === undefined) throw invalidClient('Client has no registered key.')
    const nowSec = Math.floor(clock.now() / 1000)
    let payload
    try {
      ({ payload } = await jwtVerify(assertion, client.publicKey, {
        algorithms: ASSERTION_ALGORITHMS,
        issuer: client.client_id,
        subject: client.client_id,
        audience: opts.audiences(),
        currentDate: new Date(clock.now()),
        clockTolerance: ASSERTION_SKEW_SEC,
        requiredClaims: ['exp', 'jti']
      }))
    } catch (err) {
      throw invalidClient(`Invalid client_assertion: ${err instanceof Error ? err.message : 'verification failed'}`)
    }
    const { exp, jti } = payload
    if (typeof exp !== 'number' || exp - nowSec > MAX_ASSERTION_LIFETIME_SEC + ASSERTION_SKEW_SEC) {
      throw invalidClient('client_assertion exp is more than 5 minutes ahead.')
    }
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_CLAIM_LENGTH || client.client_id.length > MAX_CLAIM_LENGTH) {
      throw invalidClient('client_assertion jti is invalid.')
    }
    pruneJtis(nowSec)
    const key = `${client.client_id}\n${jti}`
    if (usedJtis.has(key)) throw invalidClient('client_assertion jti has already been used.')
    usedJtis.set(key, exp)
  }

  return {
    async authenticate ({ authorization, form }) {
      const basic = authorization !== undefined && /^basic /i.test(authorization) ? parseBasic(authorization) : undefined
      const hasAssertion = form.client_assertion !== undefined || form.client_assertion_type !== undefined
      const hasSecret = form.client_secret !== undefined
      const presented = [basic !== undefined, hasAssertion, hasSecret].filter(Boolean).length
      if (presented > 1) throw invalidClient('Multiple client authentication methods are not allowed.')
      const method: TokenEndpointAuthMethod = basic !== undefined
        ? 'client_secret_basic'
        : hasAssertion ? 'private_key_jwt' : hasSecret ? 'client_secret_post' : 'none'

      let clientId = form.client_id
      if (basic !== undefined) {
        if (clientId !== undefined && clientId !== basic.id) throw invalidClient('client_id does not match the Authorization header.')
        clientId = basic.id
      } else if (hasAssertion && clientId === undefined) {
        clientId = assertionClientId(form.client_assertion ?? '')
      }
      if (clientId === undefined || clientId === '') throw invalidRequest('Missing required parameter: client_id')

      const client = clients.get(clientId)
      if (client === undefined) throw invalidClient('Unknown client.')
      if (client.token_endpoint_auth_method !== method) {
        throw invalidClient(`Client authentication method mismatch: the client is registered for ${client.token_endpoint_auth_method}.`)
      }
      switch (method) {
        case 'client_secret_basic':
        case 'client_secret_post': {
          const secret = method === 'client_secret_basic' ? basic?.secret ?? '' : form.client_secret ?? ''
          if (!sameSecret(secret, client.client_secret ?? '')) throw wrongSecret()
          break
        }
        case 'private_key_jwt':
          await verifyAssertion(client, form)
          break
        case 'none':
          break
      }
      return { client, method, confidential: method !== 'none' }
    }
  }
}
