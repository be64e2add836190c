import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type JWTVerifyResult } from 'jose'
import type { Clock } from '../clock.js'

export interface IdTokenVerifierOptions {
  readonly issuer: string
  readonly clientId: string
  readonly alg: 'RS256' | 'HS256'
  readonly jwksUrl: string
  /** HS256 keys are the client secret's UTF-8 bytes. */
  readonly clientSecret?: string | undefined
  readonly clockToleranceSec: number
  readonly timeoutMs: number
  readonly clock: Clock
  readonly fetch?: typeof fetch
}

export interface IdTokenVerifier {
  /** Verified claims of the id_token. Throws IdTokenError when the token cannot be trusted. */
  verify (idToken: string): Promise<JWTPayload>
  /** True once the IdP's signing keys have been fetched (or when none are needed). */
  readonly keysLoaded: boolean
  /** Fetches the signing keys now (at startup, so readiness needs no login); rejects when they cannot be fetched. */
  warmUp (): Promise<void>
}

/** The id_token is not trustworthy (signature, issuer, audience, expiry), or the keys to check it are unreachable. */
export class IdTokenError extends Error {
  /** True when the keys could not be fetched: the IdP is down rather than misconfigured. */
  readonly unavailable: boolean
  constructor (message: string, unavailable: boolean, cause: unknown) {
    super(message, { cause })
    this.name = 'IdTokenError'
    this.unavailable = unavailable
  }
}

/** A JWKS refetch for an unknown kid happens at most this often. */
const JWKS_COOLDOWN_MS = 30_000
const JWKS_MAX_AGE_MS = 10 * 60_000
/** Bound on the kids remembered for the per-kid refetch cooldown. */
const MAX_RETRIED_KIDS = 100

/** Failures that mean "this token is bad"; anything else (JWKS unreachable, timed out, not JSON) means "the IdP is down". */
const VERIFICATION_FAILURES = [
  errors.JWSSignatureVerificationFailed, errors.JWTClaimValidationFailed, errors.JWTExpired, errors.JOSEAlgNotAllowed,
  errors.JWSInvalid, errors.JWTInvalid, errors.JWKSNoMatchingKey, errors.JWKSMultipleMatchingKeys, errors.JOSENotSupported
]

/**
 * Verifies id_tokens: exactly the configured algorithm (never `none`), issuer exactly as configured (trailing
 * slash included), audience containing the client id with `azp` checked when there are several, `exp` and
 * `iat` with clock tolerance, `sub` present. RS256 keys come from the JWKS, cached and refetched by `kid`.
 */
export function createIdTokenVerifier (options: IdTokenVerifierOptions): IdTokenVerifier {
  const { clock } = options
  let keysLoaded = options.alg === 'HS256'
  let verifyJwt: (token: string, verifyOptions: JWTVerifyOptions) => Promise<JWTVerifyResult>
  let warmUp = async (): Promise<void> => {}
  if (options.alg === 'HS256') {
    const secret = new TextEncoder().encode(options.clientSecret ?? '')
    verifyJwt = async (token, verifyOptions) => await jwtVerify(token, secret, verifyOptions)
  } else {
    const fetchImpl = options.fetch ?? globalThis.fetch
    const jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      timeoutDuration: options.timeoutMs,
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      [customFetch]: async (url, init) => {
        const response = await fetchImpl(url, init)
        if (response.ok) keysLoaded = true
        return response
      }
    })
    // jose refetches for an unknown kid only when its cooldown (wall clock, since the last fetch) has passed, which
    // refuses every login right after a key rotation. Refetch once per new kid as well, with its own cooldown.
    const retriedKids = new Map<string, number>()
    warmUp = async () => { await jwks.reload() }
    verifyJwt = async (token, verifyOptions) => {
      try {
        return await jwtVerify(token, jwks, verifyOptions)
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
        const kid = decodeProtectedHeader(token).kid ?? ''
        const now = clock.now()
        const last = retriedKids.get(kid)
        if (last !== undefined && now - last < JWKS_COOLDOWN_MS) throw err
        if (retriedKids.size >= MAX_RETRIED_KIDS) retriedKids.clear()
        retriedKids.set(kid, now)
        await jwks.reload()
        return await jwtVerify(token, jwks, verifyOptions)
      }
    }
  }

  return {
    get keysLoaded () { return keysLoaded },
    async warmUp () { await warmUp() },
    async verify (idToken) {
      let payload: JWTPayload
      try {
        payload = (await verifyJwt(idToken, {
          issuer: options.issuer,
          audience: options.clientId,
          algorithms: [options.alg],
          clockTolerance: options.clockToleranceSec,
          currentDate: new Date(clock.now()),
          requiredClaims: ['sub', 'iat', 'exp']
        })).payload
      } catch (err) {
        const unavailable = !VERIFICATION_FAILURES.some(kind => err instanceof kind)
        throw new IdTokenError(`id_token rejected: ${err instanceof Error ? err.message : String(err)}`, unavailable, err)
      }
      if (typeof payload.iat !== 'number') throw new IdTokenError('id_token rejected: iat is not a number', false, undefined)
      if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== options.clientId) {
        throw new IdTokenError('id_token rejected: several audiences and azp is not the client id', false, undefined)
      }
      return payload
    }
  }
}

/** Claims that describe the token rather than the user; they are not part of the session's `user`. */
const TECHNICAL_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 's_hash', 'sid', 'azp', 'auth_time', 'jti', 'acr', 'amr'])

/** The profile part of verified claims: sub, standard profile claims and custom (namespaced) claims. */
export function profileClaims (payload: JWTPayload): Record<string, unknown> {
  const user: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(payload)) {
    if (!TECHNICAL_CLAIMS.has(name)) user[name] = value
  }
  return user
}
