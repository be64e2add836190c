/** What the demo page tells a person for each error code the gateway can answer (README, "Errors"). */

export interface Explanation {
  title: string
  text: string
  kind: 'error' | 'warn' | 'info'
}

const MESSAGES: Record<string, Explanation> = {
  invalid_request: { kind: 'error', title: 'The request was incomplete', text: 'Fill in both the username and the password.' },
  invalid_body: { kind: 'error', title: 'The request could not be read', text: 'The page sent a body that is not valid JSON.' },
  invalid_realm: { kind: 'error', title: 'Unknown realm', text: 'The gateway does not accept this realm. Leave it empty for the default connection, or use one it lists in AUTH0_REALMS.' },
  not_found: { kind: 'error', title: 'Not found', text: 'The gateway has no such route.' },
  payload_too_large: { kind: 'error', title: 'Too much data', text: 'The sign-in request is larger than 8 KB.' },
  unsupported_media_type: { kind: 'error', title: 'Unsupported request', text: 'Sign-in takes JSON or a form.' },
  no_session: { kind: 'info', title: 'You are not signed in', text: 'Sign in to start a session.' },
  session_expired: { kind: 'warn', title: 'Your session has ended', text: 'It timed out or the identity provider refused to refresh it. The gateway cleared the cookie; sign in again.' },
  invalid_credentials: { kind: 'error', title: 'Wrong username or password', text: 'Check both and try again. (The gateway never says which one was wrong, nor whether the user exists.)' },
  mfa_required: { kind: 'info', title: 'Password accepted — now a second factor', text: 'The identity provider wants multi-factor authentication for this account. Pick one of your factors below.' },
  mfa_pending: { kind: 'info', title: 'Waiting for approval', text: 'The push has not been approved on the device yet.' },
  mfa_slow_down: { kind: 'info', title: 'Checking less often', text: 'The identity provider asked the page to poll more slowly; it now waits longer between checks.' },
  mfa_invalid_code: { kind: 'error', title: 'That code is not right', text: 'Check the code and try again — the sign-in is still waiting. (An authenticator-app code works once and changes every 30 seconds.)' },
  mfa_attempts_exceeded: { kind: 'error', title: 'Too many wrong codes', text: 'The gateway ended this sign-in after too many wrong codes. Sign in again with your password.' },
  mfa_rejected: { kind: 'error', title: 'The push was rejected', text: 'Someone tapped "deny" on the device, so this sign-in was ended. If that was not you, change your password; otherwise sign in again.' },
  mfa_expired: { kind: 'warn', title: 'The sign-in took too long', text: 'The pending sign-in expired (it lasts 5 minutes) or was ended. Sign in again with your password.' },
  mfa_enrollment_required: { kind: 'error', title: 'No second factor set up', text: 'This account must use multi-factor authentication but has no factor enrolled, and the gateway does not offer enrollment. Ask an administrator.' },
  mfa_unavailable: { kind: 'error', title: 'A second factor is required', text: 'The identity provider wants multi-factor authentication, but the gateway cannot continue this sign-in (its log says what to enable).' },
  access_denied: { kind: 'error', title: 'Access denied', text: 'The identity provider refused this sign-in (for example, the user is blocked).' },
  password_reset_required: { kind: 'error', title: 'Password reset required', text: 'This password was found in a breach. Reset it before signing in.' },
  interactive_login_required: { kind: 'error', title: 'Interactive sign-in required', text: 'The identity provider wants a CAPTCHA, which a password sign-in cannot show.' },
  csrf_required: { kind: 'error', title: 'Missing anti-CSRF header', text: 'The request did not carry X-CSRF: 1, so the gateway refused it.' },
  origin_forbidden: { kind: 'error', title: 'Origin not allowed', text: 'The gateway only answers pages from its own origin or ALLOWED_ORIGINS.' },
  misdirected_request: { kind: 'error', title: 'Wrong address', text: 'The gateway only answers at the addresses in PUBLIC_ORIGIN. Open the page at one of them.' },
  account_blocked: { kind: 'error', title: 'Account blocked', text: 'Too many failed attempts: the identity provider blocked this account. Do not retry; unblock it first.' },
  rate_limited: { kind: 'warn', title: 'Too many requests', text: 'Wait a moment and try again.' },
  internal_error: { kind: 'error', title: 'Something went wrong in the gateway', text: 'The gateway logged the details.' },
  gateway_misconfigured: { kind: 'error', title: 'The gateway is misconfigured', text: 'The identity provider refused the gateway itself. Its log says what to fix.' },
  idp_unavailable: { kind: 'warn', title: 'The identity provider is unavailable', text: 'It could not be reached or answered with an error. Your session, if any, is kept; try again shortly.' },
  idp_timeout: { kind: 'warn', title: 'The identity provider is too slow', text: 'It did not answer in time. Try again shortly.' },
  refresh_rate_limited: { kind: 'warn', title: 'Token refresh is rate limited', text: 'The access token expired and refreshing right now would exceed the rate limit. Your session is kept; try again shortly.' },
  upstream_unavailable: { kind: 'error', title: 'The API is unavailable', text: 'The gateway could not reach the service behind /api.' },
  upstream_timeout: { kind: 'warn', title: 'The API is too slow', text: 'The service behind /api did not answer in time.' },
  store_unavailable: { kind: 'warn', title: 'The session store is unavailable', text: 'The gateway cannot reach its session store. Try again shortly.' },
  // The page's own.
  mfa_cancelled: { kind: 'info', title: 'Push cancelled', text: 'The page stopped waiting. Pick another factor, or the push again.' },
  network_error: { kind: 'error', title: 'The gateway cannot be reached', text: 'Is the demo still running?' },
  unexpected_response: { kind: 'error', title: 'Unexpected answer', text: 'The gateway answered something this page does not understand.' }
}

export function explain (code: string, retryAfter?: number): Explanation {
  const known = MESSAGES[code] ?? { kind: 'error', title: 'Unexpected error', text: `The gateway answered with the code ${code}.` }
  if (retryAfter === undefined) return known
  return { ...known, text: `${known.text} (Retry after ${retryAfter} s.)` }
}
