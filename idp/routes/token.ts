import type { FastifyInstance, FastifyReply } from 'fastify'
import type { AuthenticatedClient } from '../client-auth.js'
import type { CallState, IdpContext } from '../context.js'
import { callState } from '../context.js'
import { OAuthError, grantNotAllowed, invalidRequest, wrongCredentials } from '../errors.js'
import { instrument } from '../instrument.js'
import { DEFAULT_GRANTED_SCOPE, parseScope } from '../scope.js'
import { mfaRequirements } from '../mfa.js'
import { GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH, MFA_GRANTS } from '../types.js'
import { authenticateCall } from './authenticate-call.js'
import { issueTokens, required, type TokenResponse } from './issue-tokens.js'
import { mfaGrant } from './mfa-grant.js'
import { refreshGrant } from './refresh-grant.js'

export type { TokenResponse } from './issue-tokens.js'

const SUPPORTED_GRANTS = new Set([GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH, ...MFA_GRANTS])

async function passwordGrant (ctx: IdpContext, auth: AuthenticatedClient, state: CallState, grantType: string): Promise<TokenResponse> {
  const { form } = state
  const username = required(form, 'username')
  const password = required(form, 'password')
  let realm: string
  if (grantType === GRANT_PASSWORD_REALM) {
    realm = required(form, 'realm')
    if (!ctx.directory.hasRealm(realm)) {
      // Auth0 rejects a connection that does not exist or is not enabled for the app as a bad request.
      throw invalidRequest(`Invalid realm: the connection '${realm}' does not exist or is not enabled for the client.`)
    }
  } else {
    realm = ctx.settings.defaultRealm
    if (!ctx.directory.hasRealm(realm)) {
      throw new OAuthError(500, 'server_error', 'Authorization server not configured with default connection.')
    }
  }
  const user = ctx.directory.find(realm, username)
  // Brute-force protection counts per IP and identifier, known user or not, so blocking reveals nothing either.
  const identifier = user?.user_id ?? `${realm}:${username.toLowerCase()}`
  ctx.bruteForce.check(state.effectiveIp, identifier)
  // Unknown user and wrong password are indistinguishable (status, code and text).
  if (user === undefined || !ctx.directory.checkPassword(user, password)) {
    ctx.bruteForce.fail(state.effectiveIp, identifier)
    throw wrongCredentials()
  }
  if (user.blocked === true) throw new OAuthError(401, 'unauthorized', 'user is blocked')
  ctx.bruteForce.succeed(state.effectiveIp, identifier)

  const requested = parseScope(form.scope)
  const scopes = requested.length === 0 ? DEFAULT_GRANTED_SCOPE : requested
  const audience = form.audience !== undefined && form.audience !== '' ? form.audience : ctx.settings.defaultAudience
  const { client } = auth
  if (user.mfa?.required === true) {
    const tx = ctx.mfa.issue({ userId: user.user_id, clientId: client.client_id, scopes, audience })
    throw new OAuthError(403, 'mfa_required', 'Multifactor authentication required', {}, { mfa_token: tx.token, mfa_requirements: mfaRequirements(user) })
  }
  return await issueTokens(ctx, { user, client, scopes, audience, gty: 'password', tamper: state.tamper })
}

export async function tokenRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'token')

  app.post('/oauth/token', async (request, reply: FastifyReply) => {
    const state = callState(ctx, request)
    const grantType = state.form.grant_type
    if (grantType === undefined || grantType === '') throw invalidRequest('Missing required parameter: grant_type')
    if (!SUPPORTED_GRANTS.has(grantType)) throw new OAuthError(400, 'unsupported_grant_type', `Unsupported grant type: ${grantType}`)
    const auth = await authenticateCall(ctx, request, state)
    if (!auth.client.grantTypes.has(grantType)) throw grantNotAllowed(grantType)
    const body = grantType === GRANT_REFRESH
      ? await refreshGrant(ctx, auth, state, reply)
      : MFA_GRANTS.includes(grantType)
        ? await mfaGrant(ctx, auth, state, grantType)
        : await passwordGrant(ctx, auth, state, grantType)
    return await reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
  })
}
