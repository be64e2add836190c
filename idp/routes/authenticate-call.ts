import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { AuthenticatedClient } from '../client-auth.js'
import type { CallState, IdpContext } from '../context.js'

/**
 * Client authentication for the token and revoke endpoints, recording the method seen. `auth0-forwarded-for`
 * becomes the effective IP only for a confidential client (secret or assertion) with
 * is_token_endpoint_ip_header_trusted, and only when it is a valid IP.
 */
export async function authenticateCall (ctx: IdpContext, request: FastifyRequest, state: CallState): Promise<AuthenticatedClient> {
  const forwarded = request.headers['auth0-forwarded-for']
  if (typeof forwarded === 'string') state.forwardedFor = forwarded
  let auth: AuthenticatedClient
  try {
    auth = await ctx.authenticator.authenticate({ authorization: request.headers.authorization, form: state.form })
  } catch (err) {
    state.clientAuthMethod = 'invalid'
    throw err
  }
  state.clientAuthMethod = auth.method
  const candidate = typeof forwarded === 'string' ? forwarded.trim() : undefined
  if (auth.confidential && auth.client.is_token_endpoint_ip_header_trusted === true && candidate !== undefined && isIP(candidate) !== 0) {
    state.effectiveIp = candidate
  }
  return auth
}
