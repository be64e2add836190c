import { IdpError } from './idp-error.js'

/** A token endpoint answer, validated; expiry turned into an absolute time on arrival. */
export interface TokenSet {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly idToken: string | undefined
  /** Epoch ms. */
  readonly expiresAt: number
  /** The lifetime as issued, ms. */
  readonly lifetimeMs: number
  /** The granted scope, or undefined when the IdP left it out (then the requested scope stands). */
  readonly scope: string | undefined
  /** Auth0 returns a fresh recovery code after a recovery-code MFA login. */
  readonly recoveryCode: string | undefined
}

/** The fields a session record keeps of a token response. */
export interface TokenFields {
  readonly accessToken: string
  readonly refreshToken?: string
  readonly expiresAt: number
  readonly lifetimeMs: number
  readonly scope: string
}

/** What a session keeps of a token response; without a granted scope, `scope` (the one asked for) stands. */
export function tokenFields (tokens: TokenSet, scope: string): TokenFields {
  return {
    accessToken: tokens.accessToken,
    // Rotation: a returned refresh token replaces the stored one, together with the access token.
    ...(tokens.refreshToken === undefined ? {} : { refreshToken: tokens.refreshToken }),
    expiresAt: tokens.expiresAt,
    lifetimeMs: tokens.lifetimeMs,
    scope: tokens.scope ?? scope
  }
}

/** Access tokens without expires_in are treated as living this long (RFC 6749 makes the field optional). */
const DEFAULT_LIFETIME_SEC = 3600

/** Validates a 200 body from /oauth/token. Throws IdpError('malformed') for anything unusable. */
export function parseTokenResponse (body: unknown, status: number, nowMs: number): TokenSet {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new IdpError('malformed', { status, description: 'token response is not a JSON object' })
  }
  const fields = body as Record<string, unknown>
  const accessToken = fields.access_token
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new IdpError('malformed', { status, description: 'token response has no access_token' })
  }
  if (typeof fields.token_type !== 'string' || fields.token_type.toLowerCase() !== 'bearer') {
    throw new IdpError('malformed', { status, error: 'unsupported_token_type', description: `token_type is ${JSON.stringify(fields.token_type)}, expected Bearer` })
  }
  const expiresIn = fields.expires_in === undefined ? DEFAULT_LIFETIME_SEC : Number(fields.expires_in)
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw new IdpError('malformed', { status, description: 'expires_in is not a positive number' })
  }
  return {
    accessToken,
    refreshToken: optionalString(fields.refresh_token),
    idToken: optionalString(fields.id_token),
    expiresAt: nowMs + expiresIn * 1000,
    lifetimeMs: expiresIn * 1000,
    scope: optionalString(fields.scope),
    recoveryCode: optionalString(fields.recovery_code)
  }
}

function optionalString (value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}
