import { IdpError, retryAfterSeconds } from '../token/idp-error.js'

/** The User-Agent of every call the gateway makes to the identity provider. */
export const IDP_USER_AGENT = 'bff-token-gateway'

export interface IdpRequestInit {
  readonly method: 'GET' | 'POST'
  /** Added to (and able to override) accept and user-agent: content-type, authorization, client authentication. */
  readonly headers?: Record<string, string> | undefined
  readonly body?: string | undefined
}

export interface IdpRequestOptions {
  /** The deadline for the whole call, answer body included (IDP_TIMEOUT). */
  readonly timeoutMs: number
  /** The (instrumented) fetch; the global one by default. */
  readonly fetch?: typeof fetch | undefined
  /**
   * Whether `ip` goes to the IdP as `auth0-forwarded-for`: only with the Auth0 extensions on (AUTH0_DOMAIN, or
   * OIDC_ISSUER with OIDC_AUTH0_EXTENSIONS=on). Any other IdP has no business with the end user's address.
   */
  readonly forwardClientIp: boolean
  /** The end user's IP address, when the call is made on their behalf. */
  readonly ip?: string | undefined
}

/** An IdP answer, read whole within the deadline. */
export interface IdpResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/**
 * One call to the identity provider, the same way for every endpoint: a deadline, redirects not followed (a 3xx
 * is an answer, not a hop to somewhere else with our credentials), never retried (a token call may have been
 * redeemed even when its answer was lost), and no answer as an IdpError (`timeout` or `network`).
 */
export async function idpRequest (url: string, init: IdpRequestInit, options: IdpRequestOptions): Promise<IdpResponse> {
  const doFetch = options.fetch ?? globalThis.fetch
  const { ip } = options
  const forwarded: Record<string, string> = options.forwardClientIp && ip !== undefined && ip !== '' ? { 'auth0-forwarded-for': ip } : {}
  const signal = AbortSignal.timeout(options.timeoutMs)
  try {
    const response = await doFetch(url, {
      method: init.method,
      headers: { accept: 'application/json', 'user-agent': IDP_USER_AGENT, ...init.headers, ...forwarded },
      ...(init.body === undefined ? {} : { body: init.body }),
      signal,
      redirect: 'manual'
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  } catch (err) {
    throw new IdpError(signal.aborted ? 'timeout' : 'network', { cause: err })
  }
}

/** The answer's JSON body, or an IdpError `malformed` when it is not JSON. */
export function idpJson (response: IdpResponse): unknown {
  try {
    return JSON.parse(response.text)
  } catch (err) {
    throw new IdpError('malformed', { status: response.status, description: 'body is not JSON', cause: err })
  }
}

/**
 * The one place that turns an IdP error answer into an IdpError: by the `error` code (or the legacy `code`), never
 * by parsing prose. A 429 carries the wait from Retry-After or x-ratelimit-reset; mfa_required its mfa_token.
 */
export function idpErrorFrom (response: IdpResponse, nowMs: number): IdpError {
  let body: unknown
  try {
    body = JSON.parse(response.text)
  } catch {
    return new IdpError('malformed', { status: response.status, description: 'error body is not JSON' })
  }
  const fields = body !== null && typeof body === 'object' ? body as Record<string, unknown> : {}
  // Some Auth0 endpoints still use the legacy { code, description } shape.
  const error = typeof fields.error === 'string' ? fields.error : typeof fields.code === 'string' ? fields.code : undefined
  if (error === undefined) return new IdpError('malformed', { status: response.status, description: 'error body has no error code' })
  const description = fields.error_description ?? fields.description
  return new IdpError('oauth', {
    status: response.status,
    error,
    description: typeof description === 'string' ? description.slice(0, 300) : undefined,
    retryAfter: response.status === 429 ? retryAfterSeconds(response.headers, nowMs) : undefined,
    mfaToken: typeof fields.mfa_token === 'string' ? fields.mfa_token : undefined
  })
}
