import type { FastifyInstance } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { mfaGrant, type MfaVerifyBody } from '../src/mfa/mfa-grant.js'
import { MFA_STATUS_CATALOG, mfaStatusBody } from '../src/mfa/mfa-status.js'
import { sessionView } from '../src/session/session-view.js'
import { errorResponses, loginReply } from './schemas.js'

const pollReply = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message', 'interval'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer', enum: [202] },
    code: { type: 'string', enum: Object.keys(MFA_STATUS_CATALOG) },
    error: { type: 'string' },
    message: { type: 'string' },
    interval: { type: 'integer', minimum: 1 }
  }
} as const

const challengeBody = {
  type: 'object',
  required: ['authenticator_id'],
  additionalProperties: false,
  properties: {
    authenticator_id: { type: 'string', minLength: 1, maxLength: 256 }
  }
} as const

const challengeReply = {
  type: 'object',
  required: ['challenge'],
  additionalProperties: false,
  properties: {
    /** otp: type the authenticator app's code; binding_code: type the code sent by SMS/voice/email; push: approve on the device, then poll. */
    challenge: { type: 'string', enum: ['otp', 'binding_code', 'push'] },
    interval: { type: 'integer', minimum: 1 }
  }
} as const

const verifyBody = {
  type: 'object',
  additionalProperties: false,
  maxProperties: 1,
  properties: {
    otp: { type: 'string', minLength: 1, maxLength: 32 },
    binding_code: { type: 'string', minLength: 1, maxLength: 32 },
    recovery_code: { type: 'string', minLength: 1, maxLength: 128 }
  }
} as const

/**
 * `POST /session/mfa/challenge` and `POST /session/mfa`: the MFA continuation of a password login (plugins/mfa.ts
 * keeps the pending login and talks to the IdP).
 */
export default async function mfaRoutes (fastify: FastifyInstance): Promise<void> {
  const idleTimeoutMs = fastify.config.session.idleTimeoutMs
  fastify.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

  fastify.post<{ Body: { authenticator_id: string } }>('/session/mfa/challenge', {
    onRequest: fastify.verifyCsrf,
    schema: { body: challengeBody, response: { 200: challengeReply, ...errorResponses } }
  }, async (request, reply) => {
    const pending = await fastify.mfa.requirePending(request, reply)
    const authenticator = pending.record.authenticators.find(a => a.id === request.body.authenticator_id)
    if (authenticator === undefined) throw new GatewayError('invalid_request', { message: 'authenticator_id is not one of the authenticators listed with mfa_required' })
    if (authenticator.type === 'recovery-code') throw new GatewayError('invalid_request', { message: 'A recovery code needs no challenge: send { "recovery_code" } to POST /session/mfa' })
    return await fastify.mfa.challenge(request, reply, pending, authenticator)
  })

  fastify.post<{ Body: MfaVerifyBody }>('/session/mfa', {
    onRequest: fastify.verifyCsrf,
    preHandler: async request => { await fastify.loginThrottle.mfa(request, fastify.mfa.pendingIdOf(request)) },
    schema: { body: verifyBody, response: { 200: loginReply, 202: pollReply, ...errorResponses } }
  }, async (request, reply) => {
    const pending = await fastify.mfa.requirePending(request, reply)
    const outcome = await fastify.mfa.verify(request, reply, pending, mfaGrant(request.body ?? {}, pending.record))
    if (!outcome.done) return await reply.code(202).header('retry-after', String(outcome.interval)).send(mfaStatusBody(outcome.status, outcome.interval))
    return {
      ...sessionView(outcome.session, idleTimeoutMs),
      ...(outcome.tokens.recoveryCode === undefined ? {} : { recovery_code: outcome.tokens.recoveryCode }),
      ...(outcome.transport === 'header' ? { session_handle: fastify.signCookie(request.sessionId) } : {})
    }
  })
}
