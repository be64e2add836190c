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

  constructor (code: string, status: number, message: string, retryAfter?: number) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.status = status
    this.retryAfter = retryAfter
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

async function call (method: string, path: string, body?: unknown): Promise<unknown> {
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
  if (response.status === 204) return null
  const text = await response.text()
  let json: unknown
  try {
    json = text === '' ? null : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (response.ok) {
    if (json === undefined) throw new ApiError('unexpected_response', response.status, 'The gateway answered something that is not JSON')
    return json
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN)
  if (isRecord(json) && typeof json.code === 'string') {
    const message = typeof json.message === 'string' ? json.message : ''
    throw new ApiError(json.code, response.status, message, Number.isFinite(retryAfter) ? retryAfter : undefined)
  }
  throw new ApiError('unexpected_response', response.status, `HTTP ${response.status}`)
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
