import type { Clock } from '../clock.js'
import { authenticateClient, type ClientAuthentication } from './client-auth.js'
import { IdpError, retryAfterSeconds } from './idp-error.js'
import { parseTokenResponse, type TokenSet } from './token-set.js'

export const PASSWORD_REALM_GRANT = 'http://auth0.com/oauth/grant-type/password-realm'

export interface TokenClientOptions {
  readonly tokenUrl: string
  readonly revokeUrl: string
  readonly auth: ClientAuthentication
  readonly timeoutMs: number
  readonly clock: Clock
  readonly scope: string
  readonly audience?: string | undefined
  /** Send the end user's IP as auth0-forwarded-for (Auth0 honours it for confidential clients). */
  readonly forwardClientIp?: boolean
  /** Revocation body encoding: Auth0 documents JSON, RFC 7009 says form. */
  readonly revokeEncoding?: 'json' | 'form'
  readonly fetch?: typeof fetch
}

export interface PasswordGrant {
  readonly username: string
  readonly password: string
  readonly realm?: string | undefined
  /** The end user's IP address. */
  readonly ip?: string | undefined
}

export interface TokenClient {
  /** Resource Owner Password grant, or Auth0's password-realm extension grant when a realm is given. */
  password (grant: PasswordGrant): Promise<TokenSet>
  refresh (refreshToken: string, context?: { ip?: string | undefined }): Promise<TokenSet>
  /** Any other grant at the token endpoint (the MFA grants): the caller names it and its parameters. */
  grant (grantType: string, params: Record<string, string>, context?: { ip?: string | undefined }): Promise<TokenSet>
  revoke (refreshToken: string, context?: { ip?: string | undefined }): Promise<void>
}

interface RawResponse { status: number, headers: Headers, text: string }

const USER_AGENT = 'bff-token-gateway'

/**
 * Talks to the token and revocation endpoints. Every call has a deadline, is never retried (a token call may
 * have been redeemed even when its answer was lost), and fails with an IdpError that says what happened.
 */
export function createTokenClient (options: TokenClientOptions): TokenClient {
  const { clock, auth, timeoutMs } = options
  const doFetch = options.fetch ?? globalThis.fetch
  const forwardClientIp = options.forwardClientIp ?? true

  async function send (url: string, body: string, contentType: string, headers: Record<string, string>): Promise<RawResponse> {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': contentType, accept: 'application/json', 'user-agent': USER_AGENT, ...headers },
        body,
        signal,
        redirect: 'manual'
      })
      return { status: response.status, headers: response.headers, text: await response.text() }
    } catch (err) {
      if (signal.aborted) throw new IdpError('timeout', { cause: err })
      throw new IdpError('network', { cause: err })
    }
  }

  function contextHeaders (ip: string | undefined): Record<string, string> {
    return forwardClientIp && ip !== undefined && ip !== '' ? { 'auth0-forwarded-for': ip } : {}
  }

  async function tokenRequest (params: Record<string, string>, ip: string | undefined): Promise<TokenSet> {
    const client = await authenticateClient(auth, clock)
    const form = new URLSearchParams({ ...params, ...client.params }).toString()
    const response = await send(options.tokenUrl, form, 'application/x-www-form-urlencoded', { ...client.headers, ...contextHeaders(ip) })
    if (response.status !== 200) throw errorFromResponse(response, clock.now())
    return parseTokenResponse(parseJson(response), response.status, clock.now())
  }

  return {
    async password ({ username, password, realm, ip }) {
      const params: Record<string, string> = realm === undefined
        ? { grant_type: 'password', username, password }
        : { grant_type: PASSWORD_REALM_GRANT, username, password, realm }
      params.scope = options.scope
      if (options.audience !== undefined) params.audience = options.audience
      return await tokenRequest(params, ip)
    },

    async refresh (refreshToken, context = {}) {
      return await tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken }, context.ip)
    },

    async grant (grantType, params, context = {}) {
      return await tokenRequest({ ...params, grant_type: grantType }, context.ip)
    },

    async revoke (refreshToken, context = {}) {
      const client = await authenticateClient(auth, clock)
      const fields = { ...client.params, token: refreshToken }
      const response = options.revokeEncoding === 'form'
        ? await send(options.revokeUrl, new URLSearchParams({ ...fields, token_type_hint: 'refresh_token' }).toString(), 'application/x-www-form-urlencoded', { ...client.headers, ...contextHeaders(context.ip) })
        : await send(options.revokeUrl, JSON.stringify(fields), 'application/json', { ...client.headers, ...contextHeaders(context.ip) })
      // Auth0 and RFC 7009 answer 200 for a revoked, unknown or already revoked token alike.
      if (response.status !== 200) throw errorFromResponse(response, clock.now())
    }
  }
}

function parseJson (response: RawResponse): unknown {
  try {
    return JSON.parse(response.text)
  } catch (err) {
    throw new IdpError('malformed', { status: response.status, description: 'body is not JSON', cause: err })
  }
}

/** One place that turns an IdP error answer into an IdpError: by the `error` code, never by parsing prose. */
function errorFromResponse (response: RawResponse, nowMs: number): IdpError {
  let body: unknown
  try {
    body = JSON.parse(response.text)
  } catch {
    return new IdpError('malformed', { status: response.status, description: 'error body is not JSON' })
  }
  const fields = body !== null && typeof body === 'object' ? body as Record<string, unknown> : {}
  // Some Auth0 endpoints still use the legacy { code, description } shape.
  const error = typeof fields.error === 'string' ? fields.error : typeof fields.code === 'string' ? fields.code : undefined
  const rawDescription = fields.error_description ?? fields.description
  if (error === undefined) return new IdpError('malformed', { status: response.status, description: 'error body has no error code' })
  return new IdpError('oauth', {
    status: response.status,
    error,
    description: typeof rawDescription === 'string' ? rawDescription.slice(0, 300) : undefined,
    retryAfter: response.status === 429 ? retryAfterSeconds(response.headers, nowMs) : undefined,
    mfaToken: typeof fields.mfa_token === 'string' ? fields.mfa_token : undefined
  })
}
