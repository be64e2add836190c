import t from 'tap'
import { IdpError } from '../../../src/token/idp-error.js'
import { isClientAuthenticationFailure, isGlobalLimit, loginError, misconfigurationHint } from '../../../src/token/login-errors.js'

const oauth = (status: number, error: string, description?: string, retryAfter?: number): IdpError =>
  new IdpError('oauth', { status, error, ...(description === undefined ? {} : { description }), ...(retryAfter === undefined ? {} : { retryAfter }) })

t.test('each IdP answer maps to its documented code and status', async t => {
  const cases: Array<[IdpError, string, number]> = [
    [oauth(403, 'invalid_grant', 'Wrong email or password.'), 'invalid_credentials', 401],
    [oauth(403, 'mfa_required'), 'mfa_required', 401],
    [oauth(429, 'too_many_attempts'), 'account_blocked', 429],
    [oauth(429, 'too_many_requests', undefined, 17), 'rate_limited', 429],
    [oauth(401, 'password_leaked'), 'password_reset_required', 403],
    [oauth(401, 'requires_verification'), 'interactive_login_required', 403],
    [oauth(403, 'access_denied', 'denied by an Action'), 'access_denied', 403],
    [oauth(401, 'unauthorized', 'user is blocked'), 'access_denied', 403],
    [oauth(401, 'access_denied', 'Unauthorized'), 'gateway_misconfigured', 502],
    [oauth(500, 'access_denied', 'Global limit has been reached'), 'rate_limited', 429],
    [oauth(401, 'invalid_client'), 'gateway_misconfigured', 502],
    [oauth(403, 'unauthorized_client'), 'gateway_misconfigured', 502],
    [oauth(500, 'server_error'), 'gateway_misconfigured', 502],
    [oauth(400, 'invalid_request'), 'gateway_misconfigured', 502],
    [oauth(400, 'invalid_scope'), 'gateway_misconfigured', 502],
    [oauth(400, 'something_new'), 'gateway_misconfigured', 502],
    [oauth(503, 'temporarily_unavailable'), 'idp_unavailable', 502],
    [new IdpError('timeout'), 'idp_timeout', 504],
    [new IdpError('network'), 'idp_unavailable', 502],
    [new IdpError('malformed', { status: 200 }), 'idp_unavailable', 502],
    [new IdpError('malformed', { status: 200, error: 'unsupported_token_type' }), 'gateway_misconfigured', 502]
  ]
  for (const [err, code, status] of cases) {
    const mapped = loginError(err)
    t.equal(mapped.code, code, `${err.kind} ${err.error ?? ''} ${err.description ?? ''}`)
    t.equal(mapped.statusCode, status, `${code} status`)
    t.equal(mapped.cause, err)
  }
})

t.test('rate limits carry the IdP\'s wait, or 1 s without one; other codes carry none', async t => {
  t.equal(loginError(oauth(429, 'too_many_requests', undefined, 17)).retryAfter, 17)
  t.equal(loginError(oauth(429, 'too_many_requests')).retryAfter, 1)
  t.equal(loginError(oauth(500, 'access_denied', 'Global limit has been reached', 5)).retryAfter, 5)
  t.equal(loginError(oauth(429, 'too_many_attempts', undefined, 60)).retryAfter, undefined)
  t.equal(loginError(oauth(403, 'invalid_grant')).retryAfter, undefined)
})

t.test('client authentication failure and global limit are told apart from a denial', async t => {
  t.equal(isClientAuthenticationFailure(oauth(401, 'invalid_client')), true)
  t.equal(isClientAuthenticationFailure(oauth(401, 'access_denied', 'Unauthorized')), true)
  t.equal(isClientAuthenticationFailure(oauth(403, 'access_denied', 'Unauthorized')), false)
  t.equal(isClientAuthenticationFailure(oauth(401, 'access_denied', 'Nope')), false)
  t.equal(isGlobalLimit(oauth(500, 'access_denied', 'Global limit has been reached')), true)
  t.equal(isGlobalLimit(oauth(403, 'access_denied', 'unlimited power')), false)
  t.equal(isGlobalLimit(oauth(403, 'access_denied')), false)
})

t.test('the operator hint names what to fix', async t => {
  const cases: Array<[IdpError, RegExp]> = [
    [oauth(401, 'access_denied', 'Unauthorized'), /AUTH0_CLIENT_SECRET.*AUTH0_CLIENT_AUTH_METHOD/],
    [oauth(401, 'invalid_client'), /AUTH0_CLIENT_ID/],
    [oauth(403, 'unauthorized_client'), /grant/],
    [oauth(500, 'server_error'), /AUTH0_REALM/],
    [oauth(400, 'invalid_scope'), /AUTH0_SCOPE/],
    [oauth(400, 'invalid_request'), /AUTH0_AUDIENCE/],
    [oauth(400, 'unsupported_grant_type'), /password grant/],
    [new IdpError('malformed', { error: 'unsupported_token_type' }), /Bearer/],
    [oauth(400, 'odd'), /AUTH0_\*/]
  ]
  for (const [err, hint] of cases) t.match(misconfigurationHint(err), hint, err.error ?? err.kind)
})
