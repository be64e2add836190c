import type { FastifyInstance } from 'fastify'
import { ASSERTION_ALGORITHMS } from '../client-auth.js'
import type { IdpContext } from '../context.js'
import { instrument } from '../instrument.js'
import { GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH } from '../types.js'

export function discoveryDocument (issuer: string): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${issuer}oauth/token`,
    userinfo_endpoint: `${issuer}userinfo`,
    jwks_uri: `${issuer}.well-known/jwks.json`,
    revocation_endpoint: `${issuer}oauth/revoke`,
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    response_types_supported: ['token', 'id_token'],
    subject_types_supported: ['public'],
    grant_types_supported: [GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH],
    id_token_signing_alg_values_supported: ['HS256', 'RS256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    claims_supported: ['aud', 'email', 'email_verified', 'exp', 'iat', 'iss', 'name', 'nickname', 'picture', 'sub', 'updated_at']
  }
}

export async function jwksRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'jwks')
  app.get('/.well-known/jwks.json', async (_request, reply) => await reply.send(ctx.keys.jwks()))
}

export async function discoveryRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'discovery')
  app.get('/.well-known/openid-configuration', async (_request, reply) => await reply.send(discoveryDocument(ctx.issuer())))
}
