/**
 * What went wrong talking to the identity provider, before it means anything to a client. The plugins map it
 * to a GatewayError for their context (login, refresh, logout): the same IdP answer means different things there.
 */
export type IdpFailureKind =
  /** The IdP answered with an OAuth error body ({ error, error_description }). */
  | 'oauth'
  /** The IdP answered, but not with something we understand (HTML, truncated JSON, a 5xx page, a bad token set). */
  | 'malformed'
  /** No answer: connection refused, reset, DNS. */
  | 'network'
  /** No answer within the configured timeout. */
  | 'timeout'

export class IdpError extends Error {
  readonly kind: IdpFailureKind
  /** HTTP status, when there was a response. */
  readonly status: number | undefined
  /** The OAuth `error` code, when there was one. */
  readonly error: string | undefined
  readonly description: string | undefined
  /** Seconds to wait, from Retry-After or x-ratelimit-reset, on a 429. */
  readonly retryAfter: number | undefined
  /** Auth0's mfa_token on mfa_required: server-side only, never sent to a client or logged. */
  readonly mfaToken: string | undefined

  constructor (kind: IdpFailureKind, details: {
    status?: number, error?: string, description?: string, retryAfter?: number, mfaToken?: string, cause?: unknown
  } = {}) {
    super(describe(kind, details), { cause: details.cause })
    this.name = 'IdpError'
    this.kind = kind
    this.status = details.status
    this.error = details.error
    this.description = details.description
    this.retryAfter = details.retryAfter
    this.mfaToken = details.mfaToken
  }

  /** Log-safe summary: status, code and description only, never the raw body. */
  toJSON (): Record<string, unknown> {
    return { kind: this.kind, status: this.status, error: this.error, description: this.description, retryAfter: this.retryAfter }
  }
}

function describe (kind: IdpFailureKind, details: { status?: number, error?: string, description?: string }): string {
  switch (kind) {
    case 'oauth': return `identity provider answered ${details.status ?? '?'} ${details.error ?? ''}${details.description === undefined ? '' : `: ${details.description}`}`
    case 'malformed': return `identity provider answered ${details.status ?? '?'} with an unusable body${details.description === undefined ? '' : ` (${details.description})`}`
    case 'network': return 'identity provider unreachable'
    case 'timeout': return 'identity provider timed out'
  }
}

/** Seconds to wait after a 429: Retry-After (seconds or HTTP date), else x-ratelimit-reset (epoch seconds). */
export function retryAfterSeconds (headers: Headers, nowMs: number): number | undefined {
  const retryAfter = headers.get('retry-after')
  if (retryAfter !== null) {
    const seconds = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : (Date.parse(retryAfter) - nowMs) / 1000
    if (Number.isFinite(seconds)) return clampSeconds(seconds)
  }
  const reset = headers.get('x-ratelimit-reset')
  if (reset !== null && /^\d+$/.test(reset.trim())) return clampSeconds(Number(reset) - nowMs / 1000)
  return undefined
}

const MAX_RETRY_AFTER_SECONDS = 3600

function clampSeconds (seconds: number): number {
  return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(seconds)))
}
