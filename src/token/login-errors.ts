import { GatewayError } from '../errors.js'
import type { IdpError } from './idp-error.js'

/**
 * What an IdP failure at login (password, password-realm or an MFA grant) means for the client. Classified by the
 * OAuth `error` code, never by status (Auth0 answers 403 where RFC 6749 says 400) and never by description, except
 * where Auth0's own SDKs read it ("Unauthorized" client authentication, "global limit").
 */
export function loginError (err: IdpError): GatewayError {
  switch (err.kind) {
    case 'timeout': return new GatewayError('idp_timeout', { cause: err })
    case 'network': return new GatewayError('idp_unavailable', { cause: err })
    case 'malformed':
      return err.error === 'unsupported_token_type'
        ? new GatewayError('gateway_misconfigured', { cause: err })
        : new GatewayError('idp_unavailable', { cause: err })
    case 'oauth': break
  }
  switch (err.error) {
    case 'invalid_grant':
      return new GatewayError('invalid_credentials', { cause: err })
    case 'mfa_required':
      return new GatewayError('mfa_required', { cause: err })
    case 'too_many_attempts':
      return new GatewayError('account_blocked', { cause: err })
    case 'too_many_requests':
      return new GatewayError('rate_limited', { retryAfter: err.retryAfter ?? 1, cause: err })
    case 'password_leaked':
      return new GatewayError('password_reset_required', { cause: err })
    case 'requires_verification':
      return new GatewayError('interactive_login_required', { cause: err })
    case 'access_denied':
      if (isClientAuthenticationFailure(err)) return new GatewayError('gateway_misconfigured', { cause: err })
      if (isGlobalLimit(err)) return new GatewayError('rate_limited', { retryAfter: err.retryAfter ?? 1, cause: err })
      return new GatewayError('access_denied', { cause: err })
    case 'unauthorized':
      return new GatewayError('access_denied', { cause: err })
    case 'temporarily_unavailable':
      return new GatewayError('idp_unavailable', { cause: err })
    default:
      // unauthorized_client, invalid_client, server_error, invalid_request, invalid_scope, unsupported_grant_type,
      // endpoint_disabled and codes we do not know: the gateway's configuration does not match the IdP's.
      return new GatewayError('gateway_misconfigured', { cause: err })
  }
}

/** Auth0 answers a wrong client secret or assertion with 401 access_denied "Unauthorized". */
export function isClientAuthenticationFailure (err: IdpError): boolean {
  return err.error === 'invalid_client' || (err.error === 'access_denied' && err.status === 401 && err.description === 'Unauthorized')
}

/** Auth0 once answered a tenant-wide limit with access_denied "Global limit has been reached". */
export function isGlobalLimit (err: IdpError): boolean {
  return /\blimit\b/i.test(err.description ?? '')
}

/** What an operator should check when the IdP refuses the gateway itself (logged, never sent to the client). */
export function misconfigurationHint (err: IdpError): string {
  if (isClientAuthenticationFailure(err)) return 'client authentication failed: check AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET or AUTH0_CLIENT_ASSERTION_KEY, and that AUTH0_CLIENT_AUTH_METHOD matches the application\'s Token Endpoint Authentication Method'
  switch (err.error) {
    case 'unauthorized_client': return 'the application may not use this grant: enable the Password (and Refresh Token, MFA) grant types in the application\'s advanced settings'
    case 'server_error': return 'the IdP reported a server error; with Auth0 this usually means no tenant Default Directory: set AUTH0_REALM to the database connection name'
    case 'invalid_scope': return 'the IdP refused the scope: check AUTH0_SCOPE'
    case 'invalid_request': return 'the IdP refused the request as malformed: check AUTH0_AUDIENCE, AUTH0_REALM and AUTH0_SCOPE'
    case 'unsupported_grant_type': return 'the IdP does not support this grant: the password grant must be enabled'
    case 'unsupported_token_type': return 'the IdP issued a token type other than Bearer: disable sender-constrained (DPoP/mTLS) tokens for this application'
    default: return 'the IdP refused the gateway\'s request: compare the gateway\'s AUTH0_* settings with the application at the IdP'
  }
}
