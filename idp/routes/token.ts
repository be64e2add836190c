import type { FastifyInstance, FastifyReply } from 'fastify'
import type { AuthenticatedClient } from '../client-auth.js'
import type { CallState, IdpContext } from '../context.js'
import { callState } from '../context.js'
import { OAuthError, grantNotAllowed, invalidRequest, wrongCredentials } from '../errors.js'
import { instrument } from '../instrument.js'
import { DEFAULT_GRANTED_SCOPE, parseScope } from '../scope.js'
import { GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH } from '../types.js'
import { authenticateCall } from './authenticate-call.js'
import { refreshGrant } from './refresh-grant.js'

export interface TokenResponse {
  access_token: string
  id_token?: string
  refresh_token?: string
  scope: string
  expires_in: number
  token_type: 'Bearer'
}

const SUPPORTED_GRANTS = new Set([GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH])

function required (form: Record<string, string>, name: string): string {
  const value = form[name]
  if (value === undefined || value === '') throw invalidRequest(`Missing required parameter: ${name}`)
  return value
}

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
  // Unknown user and wrong password are indistinguishable (status, code and text).
  if (user === undefined || !ctx.directory.checkPassword(user, password)) throw wrongCredentials()
  if (user.blocked === true) throw new OAuthError(401, 'unauthorized', 'user is blocked')

  const requested = parseScope(form.scope)
  const scopes = requested.length === 0 ? DEFAULT_GRANTED_SCOPE : requested
  const audience = form.audience !== undefined && form.audience !== '' ? form.audience : ctx.settings.defaultAudience
  const { client } = auth
  const response: TokenResponse = {
    access_token: await ctx.minter.accessToken({ user, client, audience, scopes, gty: 'password' }),
    scope: scopes.join(' '),
    expires_in: ctx.settings.accessTokenTtlSec,
    token_type: 'Bearer'
  }
  if (scopes.includes('openid')) response.id_token = await ctx.minter.idToken({ user, client, scopes, tamper: state.tamper })
  if (scopes.includes('offline_access') && client.grantTypes.has(GRANT_REFRESH)) {
    response.refresh_token = ctx.refresh.issue({ clientId: client.client_id, userId: user.user_id, scopes, audience })
  }
  return response
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
      : await passwordGrant(ctx, auth, state, grantType)
    return await reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(body)
  })
}
