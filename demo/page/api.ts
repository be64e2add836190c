/**
 * The demo page's calls to the gateway, written like a real SPA's: same-origin `fetch` with `credentials: 'include'`
 * (the browser attaches the httpOnly session cookie) and the `X-CSRF: 1` header on every call. Runs in the browser.
 */

/** `GET /session` and `POST /session`: who is signed in and when things expire. Never a token. */
export interface SessionView {
  user: Record<string, unknown>
  scope: string
  expires_at: string
  access_token_expires_at: string
  has_refresh_token: boolean
}

/** What the demo echo API behind `/api` reports it received. */
export interface EchoView {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  bearer: { present: boolean, expires_at?: string }
  cookies_received: boolean
  body_bytes: number
}

/** A failed call: the gateway's error `code`, or `network_error` / `unexpected_response` from the page itself. */
export class ApiError extends Error {
  readonly code: string
  readonly status: number
  /** Seconds, from Retry-After. */
  readonly retryAfter: number | undefined
  /** The whole error body (`mfa_required` carries `authenticators`). */
  readonly body: Record<string, unknown> | undefined

  constructor (code: string, status: number, message: string, retryAfter?: number, body?: Record<string, unknown>) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = status
    this.retryAfter = retryAfter
    this.body = body
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A successful answer's status and JSON body (null for 204). Errors throw ApiError. */
async function request (method: string, path: string, body?: unknown): Promise<{ status: number, json: unknown }> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-csrf': '1' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(path, {
      method,
      credentials: 'include',
      headers,
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  } catch {
    throw new ApiError('network_error', 0, 'The gateway could not be reached')
  }
  if (response.status === 204) return { status: 204, json: null }
  const text = await response.text()
  let json: unknown
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (response.ok) {
    if (json === undefined) throw new ApiError('unexpected_response', response.status, 'The gateway answered something that is not JSON')
    return { status: response.status, json }
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN)
  if (isRecord(json) && typeof json.code === 'string') {
    const message = typeof json.message === 'string' ? json.message : ''
    throw new ApiError(json.code, response.status, message, Number.isFinite(retryAfter) ? retryAfter : undefined, json)
  }
  throw new ApiError('unexpected_response', response.status, `HTTP ${response.status}`)
}

async function call (method: string, path: string, body?: unknown): Promise<unknown> {
  return (await request(method, path, body)).json
}

export interface Credentials {
  username: string
  password: string
  realm?: string
}

export async function login (credentials: Credentials): Promise<SessionView> {
  return await call('POST', '/session', credentials) as SessionView
}

/** The current session, or null when there is none (401 no_session is the normal signed-out answer). */
export async function currentSession (): Promise<SessionView | null> {
  try {
    return await call('GET', '/session') as SessionView
  } catch (err) {
    if (err instanceof ApiError && err.code === 'no_session') return null
    throw err
  }
}

export async function logout (): Promise<void> {
  await call('DELETE', '/session')
}

export async function echo (method: 'GET' | 'POST'): Promise<EchoView> {
  return await call(method, '/api/echo', method === 'POST' ? { hello: 'from the demo page' } : undefined) as EchoView
}

// ---- MFA (README, "MFA") ----

/** One of the user's second factors, as listed with `401 mfa_required`. Never a secret. */
export interface Authenticator {
  id: string
  type: 'otp' | 'oob' | 'recovery-code'
  /** oob only: `auth0` (push), `sms`, `voice`, `email`. */
  channel?: string
  /** e.g. the device name or a masked phone number. */
  name?: string
}

/** The authenticators of a `mfa_required` error; empty when the gateway cannot continue the login itself. */
export function authenticatorsOf (err: ApiError): Authenticator[] {
  const list = err.body?.authenticators
  if (!Array.isArray(list)) return []
  return list.filter((a): a is Authenticator => isRecord(a) && typeof a.id === 'string' &&
    (a.type === 'otp' || a.type === 'oob' || a.type === 'recovery-code'))
}

/** What `POST /session/mfa/challenge` says comes next. */
export type Challenge = { challenge: 'otp' } | { challenge: 'binding_code' } | { challenge: 'push', interval: number }

export async function mfaChallenge (authenticatorId: string): Promise<Challenge> {
  const json = await call('POST', '/session/mfa/challenge', { authenticator_id: authenticatorId })
  if (!isRecord(json) || (json.challenge !== 'otp' && json.challenge !== 'binding_code' && json.challenge !== 'push')) {
    throw new ApiError('unexpected_response', 200, 'Unknown challenge')
  }
  if (json.challenge === 'push') {
    // The gateway says how long to wait between polls (MFA_POLL_INTERVAL); no guess of ours.
    if (typeof json.interval !== 'number') throw new ApiError('unexpected_response', 200, 'A push challenge without an interval')
    return { challenge: 'push', interval: json.interval }
  }
  return { challenge: json.challenge }
}

/** A signed-in answer; a recovery-code login also carries the user's new recovery code (shown once). */
export interface LoginView extends SessionView {
  recovery_code?: string
}

/** `POST /session/mfa`: signed in, or (push) not yet approved — poll again after `interval` seconds. */
export type MfaResult =
  | { done: true, view: LoginView }
  | { done: false, code: 'mfa_pending' | 'mfa_slow_down', interval: number }

export type MfaProof = { otp: string } | { binding_code: string } | { recovery_code: string } | Record<string, never>

export async function mfaVerify (proof: MfaProof): Promise<MfaResult> {
  const { status, json } = await request('POST', '/session/mfa', proof)
  if (status === 202) {
    if (!isRecord(json) || (json.code !== 'mfa_pending' && json.code !== 'mfa_slow_down') || typeof json.interval !== 'number') {
      throw new ApiError('unexpected_response', 202, 'Unknown poll answer')
    }
    return { done: false, code: json.code, interval: json.interval }
  }
  return { done: true, view: json as LoginView }
}
