import type { FastifyReply } from 'fastify'
import type { AuthenticatedClient } from '../client-auth.js'
import type { CallState, IdpContext } from '../context.js'
import { OAuthError, invalidRequest } from '../errors.js'
import { parseScope } from '../scope.js'
import type { TokenResponse } from './token.js'

/**
 * grant_type=refresh_token: per-family rate limit, rotation with reuse detection and leeway (refresh-tokens.ts),
 * blocked/deleted users, and optional scope narrowing (for this response only; the family keeps its scope).
 */
export async function refreshGrant (ctx: IdpContext, auth: AuthenticatedClient, state: CallState, reply: FastifyReply): Promise<TokenResponse> {
  const token = state.form.refresh_token
  if (token === undefined || token === '') throw invalidRequest('Missing required parameter: refresh_token')

  const known = ctx.refresh.find(token)
  if (ctx.refreshRateLimiter !== undefined && known !== undefined) {
    const limit = ctx.refreshRateLimiter.take(known.id)
    reply.headers(limit.headers)
    if (!limit.allowed) throw new OAuthError(429, 'too_many_requests', 'Rate limit exceeded.', limit.headers)
  }

  const { client } = auth
  const { family, kind } = ctx.refresh.check(token, client.client_id)
  const user = ctx.directory.byId(family.userId)
  if (user === undefined) {
    throw new OAuthError(403, 'invalid_grant', 'The refresh_token was generated for a user who doesn\'t exist anymore.')
  }
  if (user.blocked === true) throw new OAuthError(403, 'invalid_grant', 'user is blocked')

  let scopes = family.scopes
  const requested = parseScope(state.form.scope)
  if (requested.length > 0) {
    const extra = requested.filter(s => !family.scopes.includes(s))
    if (extra.length > 0) throw new OAuthError(400, 'invalid_scope', `Scope '${extra.join(' ')}' was not granted to the refresh token.`)
    scopes = requested
  }

  const next = ctx.refresh.commit(family, token, kind)
  const response: TokenResponse = {
    access_token: await ctx.minter.accessToken({ user, client, audience: family.audience, scopes }),
    scope: scopes.join(' '),
    expires_in: ctx.settings.accessTokenTtlSec,
    token_type: 'Bearer'
  }
  if (scopes.includes('openid')) response.id_token = await ctx.minter.idToken({ user, client, scopes, tamper: state.tamper })
  if (next !== undefined) response.refresh_token = next
  return response
}
