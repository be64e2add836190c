import type { FastifyReply } from 'fastify'

/**
 * An Auth0-shaped error reply: `{ error, error_description }` with Auth0's (not RFC 6749's) status codes.
 * Thrown anywhere below a route and rendered by the app's error handler.
 */
export class OAuthError extends Error {
  readonly status: number
  readonly error: string
  readonly description: string
  readonly headers: Record<string, string>
  /** Extra body members (mfa_required carries mfa_token and mfa_requirements). */
  readonly extra: Record<string, unknown>

  constructor (status: number, error: string, description: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
    super(`${error}: ${description}`)
    this.status = status
    this.error = error
    this.description = description
    this.headers = headers
    this.extra = extra
  }
}

export const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description)

/** Unknown client, method mismatch, bad assertion: 401 invalid_client. */
export const invalidClient = (description: string): OAuthError => new OAuthError(401, 'invalid_client', description)

/**
 * Wrong client secret. Auth0 has been observed answering `401 {"error":"access_denied","error_description":"Unauthorized"}`
 * (reference §6, several SDK issues), so we mirror that shape instead of RFC 6749's `invalid_client`.
 */
export const wrongSecret = (): OAuthError => new OAuthError(401, 'access_denied', 'Unauthorized')

export const wrongCredentials = (): OAuthError => new OAuthError(403, 'invalid_grant', 'Wrong email or password.')

export const invalidRefreshToken = (): OAuthError => new OAuthError(403, 'invalid_grant', 'Unknown or invalid refresh token.')

export const grantNotAllowed = (grantType: string): OAuthError =>
  new OAuthError(403, 'unauthorized_client', `Grant type '${grantType}' not allowed for the client.`)

export function sendOAuthError (reply: FastifyReply, err: OAuthError): FastifyReply {
  return reply
    .code(err.status)
    .headers(err.headers)
    .header('cache-control', 'no-store')
    .send({ error: err.error, error_description: err.description, ...err.extra })
}
