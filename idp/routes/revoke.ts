import type { FastifyInstance } from 'fastify'
import type { IdpContext } from '../context.js'
import { callState } from '../context.js'
import { invalidRequest } from '../errors.js'
import { instrument } from '../instrument.js'
import { authenticateCall } from './authenticate-call.js'

/**
 * POST /oauth/revoke (JSON as Auth0 documents it, form as RFC 7009). A refresh token revokes its whole family.
 * 200 with an empty body, also for unknown or foreign tokens (RFC 7009 §2.2).
 */
export async function revokeRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'revoke')

  app.post('/oauth/revoke', async (request, reply) => {
    const state = callState(ctx, request)
    const token = state.form.token
    if (token === undefined || token === '') throw invalidRequest('Missing required parameter: token')
    const auth = await authenticateCall(ctx, request, state)
    if (ctx.refresh.revoke(token, auth.client.client_id)) ctx.log.stats.revocations += 1
    return await reply.code(200).send()
  })
}
