import type { FastifyInstance } from 'fastify'
import { callState, type IdpContext } from '../context.js'
import { OAuthError, invalidRequest } from '../errors.js'
import { instrument } from '../instrument.js'
import { authenticateCall } from './authenticate-call.js'
import { required } from './issue-tokens.js'

/**
 * The MFA API during a password login (reference §8.2, §8.3): `GET /mfa/authenticators` with the mfa_token as Bearer,
 * and `POST /mfa/challenge` (JSON or form, with client authentication). Recorded in `calls` as endpoint `mfa`.
 */
export async function mfaRoutes (app: FastifyInstance, opts: { ctx: IdpContext }): Promise<void> {
  const { ctx } = opts
  instrument(app, ctx, 'mfa')

  app.get('/mfa/authenticators', async (request, reply) => {
    const state = callState(ctx, request)
    const forwarded = request.headers['auth0-forwarded-for']
    if (typeof forwarded === 'string') state.forwardedFor = forwarded
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')
    if (match?.[1] === undefined) throw new OAuthError(401, 'invalid_request', 'Missing authentication: Authorization: Bearer <mfa_token>')
    const tx = ctx.mfa.check(match[1])
    const user = ctx.directory.byId(tx.userId)
    const list = (user?.mfa?.authenticators ?? []).map(a => ({
      id: a.id,
      authenticator_type: a.authenticator_type,
      active: a.active !== false,
      ...(a.oob_channel !== undefined && { oob_channel: a.oob_channel }),
      ...(a.name !== undefined && { name: a.name })
    }))
    return await reply.header('cache-control', 'no-store').send(list)
  })

  app.post('/mfa/challenge', async (request, reply) => {
    const state = callState(ctx, request)
    const auth = await authenticateCall(ctx, request, state)
    const tx = ctx.mfa.check(required(state.form, 'mfa_token'), auth.client.client_id)
    const user = ctx.directory.byId(tx.userId)
    const active = (user?.mfa?.authenticators ?? []).filter(a => a.active !== false)
    if (active.length === 0) throw new OAuthError(400, 'association_required', 'User must enroll an authenticator first.')
    const types = (state.form.challenge_type ?? 'otp oob').split(/\s+/).filter(t => t !== '')
    if (types.some(t => t !== 'otp' && t !== 'oob')) throw invalidRequest('challenge_type must be a space-separated list of otp and oob.')
    const wanted = state.form.authenticator_id
    const candidates = active.filter(a => types.includes(a.authenticator_type))
    const authenticator = wanted === undefined || wanted === '' ? candidates[0] : candidates.find(a => a.id === wanted)
    if (authenticator === undefined) throw new OAuthError(400, 'unsupported_challenge_type', 'The user is not enrolled with an authenticator that supports the requested challenge type.')
    reply.header('cache-control', 'no-store')
    if (authenticator.authenticator_type === 'otp') return await reply.send({ challenge_type: 'otp' })
    const oob = ctx.mfa.challenge(tx, authenticator)
    return await reply.send(oob.bindingCode === undefined
      ? { challenge_type: 'oob', oob_code: oob.oobCode }
      : { challenge_type: 'oob', oob_code: oob.oobCode, binding_method: 'prompt' })
  })
}
