/**
 * Every error the gateway answers with. The `code` is part of the public API: clients switch on it,
 * the README lists it, and it never changes meaning. Messages are for humans and may improve.
 */
export const ERROR_CATALOG = {
  // Request shape
  invalid_request: [400, 'The request is invalid'],
  invalid_body: [400, 'The request body is not valid JSON'],
  invalid_realm: [400, 'This realm is not accepted'],
  payload_too_large: [413, 'The request body is too large'],
  unsupported_media_type: [415, 'Unsupported content type'],
  not_found: [404, 'No such route'],
  session_not_found: [404, 'No such session among the user\'s sessions'],
  // Sessions
  no_session: [401, 'No valid session'],
  session_expired: [401, 'The session has expired; sign in again'],
  // Login outcomes
  invalid_credentials: [401, 'Wrong username or password'],
  mfa_required: [401, 'Multi-factor authentication is required'],
  access_denied: [403, 'Access denied by the identity provider'],
  password_reset_required: [403, 'The password must be reset before signing in'],
  interactive_login_required: [403, 'This sign-in needs an interactive login'],
  account_blocked: [429, 'The account is blocked after too many attempts'],
  rate_limited: [429, 'Too many requests; retry later'],
  // MFA continuation (POST /session/mfa/challenge, POST /session/mfa); its 202s are in src/mfa/mfa-status.ts
  mfa_rejected: [403, 'The sign-in was rejected on the device; sign in again'],
  mfa_expired: [401, 'No sign-in is waiting for a second factor, or it took too long; sign in again'],
  mfa_invalid_code: [401, 'Wrong verification code'],
  mfa_attempts_exceeded: [401, 'Too many wrong codes for this sign-in; sign in again'],
  mfa_enrollment_required: [403, 'Multi-factor authentication is required, but no authenticator is enrolled'],
  header_sessions_disabled: [400, 'Header sessions are not enabled on this gateway'],
  // Request protection
  csrf_required: [403, 'This request needs the anti-CSRF header'],
  origin_forbidden: [403, 'Requests from this origin are not allowed'],
  misdirected_request: [421, 'This gateway does not serve that host'],
  admin_unauthorized: [401, 'The admin API needs a valid bearer token'],
  // Identity provider
  idp_unavailable: [502, 'The identity provider is unavailable'],
  idp_timeout: [504, 'The identity provider did not answer in time'],
  gateway_misconfigured: [502, 'The gateway is misconfigured for its identity provider'],
  refresh_rate_limited: [503, 'Token refresh is rate limited; retry later'],
  // Upstreams and infrastructure
  upstream_unavailable: [502, 'The upstream service is unavailable'],
  upstream_timeout: [504, 'The upstream service did not answer in time'],
  store_unavailable: [503, 'The session store is unavailable'],
  internal_error: [500, 'Internal server error']
} as const satisfies Record<string, readonly [number, string]>

export type ErrorCode = keyof typeof ERROR_CATALOG

export interface GatewayErrorOptions {
  message?: string
  /** Overrides the catalog status where one code legitimately maps to two (idp_unavailable: 502 at login, 503 at refresh). */
  statusCode?: number
  /** Seconds, sent as Retry-After. */
  retryAfter?: number
  cause?: unknown
}

export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly retryAfter: number | undefined

  constructor (code: ErrorCode, options: GatewayErrorOptions = {}) {
    const [status, message] = ERROR_CATALOG[code]
    super(options.message ?? message, { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.statusCode = options.statusCode ?? status
    this.retryAfter = options.retryAfter
  }
}

export function isGatewayError (err: unknown): err is GatewayError {
  return err instanceof GatewayError
}

/** A configuration value is missing or wrong: the process must not start. */
export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
