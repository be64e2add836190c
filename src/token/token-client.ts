import type { Clock } from '../clock.js'
import { authenticateClient, type ClientAuthentication } from './client-auth.js'
import { idpErrorFrom, idpJson, idpRequest, type IdpResponse } from '../idp/idp-request.js'
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
  /** Send the end user's IP as auth0-forwarded-for (Auth0 honours it for confidential clients): only with the Auth0 extensions on. */
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

/**
 * Talks to the token and revocation endpoints through idpRequest (src/idp/idp-request.ts): a deadline on every
 * call, never retried, and failures as an IdpError that says what happened.
 */
export function createTokenClient (options: TokenClientOptions): TokenClient {
  const { clock, auth } = options
  const forwardClientIp = options.forwardClientIp ?? true

  async function send (url: string, body: string, contentType: string, headers: Record<string, string>, ip: string | undefined): Promise<IdpResponse> {
    return await idpRequest(url, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body }, { timeoutMs: options.timeoutMs, fetch: options.fetch, forwardClientIp, ip })
  }

  async function tokenRequest (params: Record<string, string>, ip: string | undefined): Promise<TokenSet> {
    const client = await authenticateClient(auth, clock)
    const form = new URLSearchParams({ ...params, ...client.params }).toString()
    const response = await send(options.tokenUrl, form, 'application/x-www-form-urlencoded', client.headers, ip)
    if (response.status !== 200) throw idpErrorFrom(response, clock.now())
    return parseTokenResponse(idpJson(response), response.status, clock.now())
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
        ? await send(options.revokeUrl, new URLSearchParams({ ...fields, token_type_hint: 'refresh_token' }).toString(), 'application/x-www-form-urlencoded', client.headers, context.ip)
        : await send(options.revokeUrl, JSON.stringify(fields), 'application/json', client.headers, context.ip)
      // Auth0 and RFC 7009 answer 200 for a revoked, unknown or already revoked token alike.
      if (response.status !== 200) throw idpErrorFrom(response, clock.now())
    }
  }
}
