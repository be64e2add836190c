import type { Clock } from '../clock.js'
import { idpJson, idpRequest } from '../idp/idp-request.js'
import { IdpError, retryAfterSeconds } from './idp-error.js'

export interface UserinfoClientOptions {
  /** The IdP's userinfo endpoint (`<domain>/userinfo`, or discovery's `userinfo_endpoint`). */
  readonly url: string
  readonly timeoutMs: number
  readonly clock: Clock
  readonly fetch?: typeof fetch | undefined
}

export interface UserinfoClient {
  /** The IdP's claims for the access token. Throws IdpError: `oauth` with status 401 or 429, `malformed`, `network`, `timeout`. */
  fetch (accessToken: string): Promise<Record<string, unknown>>
}

/** The longest userinfo answer read; anything bigger is treated as malformed. */
const MAX_BODY_CHARS = 64 * 1024

/**
 * `GET /userinfo` with the session's access token through idpRequest: one deadline (IDP_TIMEOUT), no redirects, no
 * retries here, and every failure an IdpError saying what happened.
 */
export function createUserinfoClient (options: UserinfoClientOptions): UserinfoClient {
  const { url, timeoutMs, clock } = options
  return {
    async fetch (accessToken) {
      if (url === '') throw new IdpError('malformed', { description: 'the identity provider has no userinfo endpoint' })
      // Userinfo is asked on the user's behalf by their session, not for a login: no auth0-forwarded-for.
      const { status, headers, text } = await idpRequest(url, { method: 'GET', headers: { authorization: `Bearer ${accessToken}` } }, { timeoutMs, fetch: options.fetch, forwardClientIp: false })
      if (status === 401) {
        const challenge = headers.get('www-authenticate') ?? ''
        const description = /error_description="([^"]*)"/.exec(challenge)?.[1]
        throw new IdpError('oauth', { status, error: 'invalid_token', ...(description === undefined ? {} : { description: description.slice(0, 300) }) })
      }
      if (status === 429) throw new IdpError('oauth', { status, error: 'too_many_requests', retryAfter: retryAfterSeconds(headers, clock.now()) ?? 60 })
      if (status !== 200) throw new IdpError('malformed', { status, description: 'userinfo did not answer 200' })
      if (text.length > MAX_BODY_CHARS) throw new IdpError('malformed', { status, description: 'userinfo body too large' })
      const body = idpJson({ status, headers, text })
      if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof (body as Record<string, unknown>).sub !== 'string') {
        throw new IdpError('malformed', { status, description: 'userinfo body is not an object with a sub' })
      }
      return body as Record<string, unknown>
    }
  }
}
