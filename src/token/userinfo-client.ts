import type { Clock } from '../clock.js'
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
 * `GET /userinfo` with the session's access token, in the token client's style: one deadline (IDP_TIMEOUT), no
 * redirects, no retries here, and every failure an IdpError saying what happened.
 */
export function createUserinfoClient (options: UserinfoClientOptions): UserinfoClient {
  const { url, timeoutMs, clock } = options
  const doFetch = options.fetch ?? globalThis.fetch
  return {
    async fetch (accessToken) {
      if (url === '') throw new IdpError('malformed', { description: 'the identity provider has no userinfo endpoint' })
      const signal = AbortSignal.timeout(timeoutMs)
      let status: number
      let headers: Headers
      let text: string
      try {
        const response = await doFetch(url, {
          method: 'GET',
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'bff-token-gateway' },
          signal,
          redirect: 'manual'
        })
        status = response.status
        headers = response.headers
        text = await response.text()
      } catch (err) {
        if (signal.aborted) throw new IdpError('timeout', { cause: err })
        throw new IdpError('network', { cause: err })
      }
      if (status === 401) {
        const challenge = headers.get('www-authenticate') ?? ''
        const description = /error_description="([^"]*)"/.exec(challenge)?.[1]
        throw new IdpError('oauth', { status, error: 'invalid_token', ...(description === undefined ? {} : { description: description.slice(0, 300) }) })
      }
      if (status === 429) throw new IdpError('oauth', { status, error: 'too_many_requests', retryAfter: retryAfterSeconds(headers, clock.now()) ?? 60 })
      if (status !== 200) throw new IdpError('malformed', { status, description: 'userinfo did not answer 200' })
      if (text.length > MAX_BODY_CHARS) throw new IdpError('malformed', { status, description: 'userinfo body too large' })
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch (err) {
        throw new IdpError('malformed', { status, description: 'body is not JSON', cause: err })
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof (body as Record<string, unknown>).sub !== 'string') {
        throw new IdpError('malformed', { status, description: 'userinfo body is not an object with a sub' })
      }
      return body as Record<string, unknown>
    }
  }
}
