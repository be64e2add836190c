import type { FastifyInstance } from 'fastify'
import type { IdpContext } from '../context.js'
import { OAuthError } from '../errors.js'
import { instrument } from '../instrument.js'
import { profileClaims } from '../profile.js'
import { parseScope } from '../scope.js'

function invalidToken (description: string): OAuthError {
  return new OAuthError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${description}"`
  })
}

/** GET /userinfo: verifies the access token (signature with a published key, iss, exp by the clock). */
export async function userinfoRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'userinfo')

  app.get('/userinfo', async (request, reply) => {
    const header = request.headers.authorization
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
    const token = match?.[1]
    if (token === undefined) throw invalidToken('Missing access token')
    let payload
    try {
      payload = await ctx.minter.verifyAccessToken(token)
    } catch {
      throw invalidToken('Invalid or expired access token')
    }
    const user = typeof payload.sub === 'string' ? ctx.directory.byId(payload.sub) : undefined
    if (user === undefined) throw invalidToken('Unknown user')
    const scopes = parseScope(typeof payload.scope === 'string' ? payload.scope : undefined)
    return await reply.header('cache-control', 'no-store').send(profileClaims(user, scopes))
  })
}
