import type { Clock } from '../clock.js'
import { idpUrl } from '../oidc/idp-url.js'
import { authenticateClient, type ClientAuthentication } from '../token/client-auth.js'
import { idpErrorFrom, idpJson, idpRequest, type IdpRequestInit } from '../idp/idp-request.js'
import { IdpError } from '../token/idp-error.js'

/** An enrolled, active factor as the gateway shows it to a client (never a secret, never the mfa_token). */
export interface MfaAuthenticator {
  readonly id: string
  readonly type: 'otp' | 'oob' | 'recovery-code'
  /** oob only: `sms`, `voice`, `email` or `auth0` (push). */
  readonly channel?: string
  /** A masked phone number or a device name, as the IdP gives it. */
  readonly name?: string
}

export interface MfaChallenge {
  readonly challengeType: 'otp' | 'oob'
  readonly oobCode: string | undefined
  /** `prompt`: the user must type the code sent by SMS/voice/email. Absent for push (poll instead). */
  readonly bindingMethod: string | undefined
}

export interface MfaApi {
  /** GET /mfa/authenticators with the mfa_token as Bearer: the active ones. */
  authenticators (mfaToken: string, context: { ip?: string | undefined }): Promise<MfaAuthenticator[]>
  /** POST /mfa/challenge (JSON, with client authentication). */
  challenge (mfaToken: string, authenticatorId: string, context: { ip?: string | undefined }): Promise<MfaChallenge>
}

export interface MfaApiOptions {
  /** The issuer (the tenant origin with AUTH0_DOMAIN; OIDC_ISSUER's discovered issuer, with or without a trailing slash). */
  readonly issuer: string
  readonly auth: ClientAuthentication
  readonly clock: Clock
  readonly timeoutMs: number
  /** Send the end user's IP as auth0-forwarded-for, as the token client does: only with the Auth0 extensions on. */
  readonly forwardClientIp?: boolean
  readonly fetch?: typeof fetch | undefined
}

const KNOWN_TYPES = new Set(['otp', 'oob', 'recovery-code'])

/**
 * Auth0's MFA API as far as a password login needs it (reference §8.2, §8.3), through idpRequest like the token
 * client: a deadline on every call, no retries, `auth0-forwarded-for` as forwardClientIp says, failures as IdpError.
 */
export function createMfaApi (options: MfaApiOptions): MfaApi {
  const forwardClientIp = options.forwardClientIp ?? true
  // Auth0's MFA API is under the tenant: `<issuer>/mfa/…`.
  const authenticatorsUrl = idpUrl(options.issuer, 'mfa/authenticators')
  const challengeUrl = idpUrl(options.issuer, 'mfa/challenge')

  async function call (url: string, init: IdpRequestInit, ip: string | undefined): Promise<unknown> {
    const response = await idpRequest(url, init, { timeoutMs: options.timeoutMs, fetch: options.fetch, forwardClientIp, ip })
    if (response.status !== 200) throw idpErrorFrom(response, options.clock.now())
    return idpJson(response)
  }

  return {
    async authenticators (mfaToken, context) {
      const body = await call(authenticatorsUrl, { method: 'GET', headers: { authorization: `Bearer ${mfaToken}` } }, context.ip)
      if (!Array.isArray(body)) throw new IdpError('malformed', { status: 200, description: 'authenticators is not a list' })
      const list: MfaAuthenticator[] = []
      for (const item of body as unknown[]) {
        if (item === null || typeof item !== 'object') continue
        const a = item as Record<string, unknown>
        const type = a.authenticator_type
        if (a.active !== true || typeof a.id !== 'string' || typeof type !== 'string' || !KNOWN_TYPES.has(type)) continue
        // The docs' examples say oob_channel, the API reference oob_channels (reference §8.2): accept both.
        const channel = typeof a.oob_channel === 'string' ? a.oob_channel : Array.isArray(a.oob_channels) && typeof a.oob_channels[0] === 'string' ? a.oob_channels[0] : undefined
        list.push({
          id: a.id,
          type: type as MfaAuthenticator['type'],
          ...(channel === undefined ? {} : { channel }),
          ...(typeof a.name === 'string' ? { name: a.name } : {})
        })
      }
      return list
    },

    async challenge (mfaToken, authenticatorId, context) {
      const client = await authenticateClient(options.auth, options.clock)
      const body = await call(challengeUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...client.headers },
        body: JSON.stringify({ ...client.params, mfa_token: mfaToken, challenge_type: 'otp oob', authenticator_id: authenticatorId })
      }, context.ip)
      const fields = body !== null && typeof body === 'object' ? body as Record<string, unknown> : {}
      const types = typeof fields.challenge_type === 'string' ? fields.challenge_type.split(/\s+/) : []
      const oobCode = typeof fields.oob_code === 'string' && fields.oob_code !== '' ? fields.oob_code : undefined
      if (types.includes('oob') && oobCode !== undefined) {
        return { challengeType: 'oob', oobCode, bindingMethod: typeof fields.binding_method === 'string' ? fields.binding_method : undefined }
      }
      if (types.includes('otp')) return { challengeType: 'otp', oobCode: undefined, bindingMethod: undefined }
      throw new IdpError('malformed', { status: 200, description: 'challenge answer has neither otp nor an oob_code' })
    }
  }
}
