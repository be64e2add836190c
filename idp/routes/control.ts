import type { FastifyInstance } from 'fastify'
import type { IdpControl } from '../control.js'
import { OAuthError } from '../errors.js'
import { parseFaultSpec } from '../faults.js'
import { isRecord } from '../validate.js'

function badRequest (err: unknown): OAuthError {
  return new OAuthError(400, 'invalid_request', err instanceof Error ? err.message : 'Invalid request')
}

/** /__idp/* control routes (only mounted with testApi / IDP_TEST_API=on). Not recorded in calls or stats. */
export async function controlRoutes (app: FastifyInstance, opts: { control: IdpControl }): Promise<void> {
  const { control } = opts

  app.post('/__idp/faults', async (request, reply) => {
    const specs = Array.isArray(request.body) ? request.body : [request.body]
    try {
      for (const spec of specs.map(parseFaultSpec)) control.setFault(spec)
    } catch (err) {
      throw badRequest(err)
    }
    return await reply.code(204).send()
  })
  app.delete('/__idp/faults', async (_request, reply) => {
    control.clearFaults()
    return await reply.code(204).send()
  })
  app.get('/__idp/stats', async () => control.stats)
  app.delete('/__idp/stats', async (_request, reply) => {
    control.resetStats()
    return await reply.code(204).send()
  })
  app.get('/__idp/calls', async () => control.calls)
  app.delete('/__idp/calls', async (_request, reply) => {
    control.clearCalls()
    return await reply.code(204).send()
  })
  app.post('/__idp/rotate-keys', async request => {
    const body = request.body
    return await control.rotateKeys({ keepOld: isRecord(body) && body.keepOld === true })
  })
  app.post<{ Params: { userId: string } }>('/__idp/users/:userId/block', async (request, reply) => {
    const body = request.body
    try {
      control.blockUser(request.params.userId, !(isRecord(body) && body.blocked === false))
    } catch (err) {
      throw new OAuthError(404, 'not_found', err instanceof Error ? err.message : 'Unknown user')
    }
    return await reply.code(204).send()
  })
  app.post<{ Params: { userId: string } }>('/__idp/users/:userId/revoke-sessions', async request => {
    return { revoked: control.revokeUserSessions(request.params.userId) }
  })
  // MFA: :key is a user id (its newest challenge) or an oob_code.
  app.post<{ Params: { key: string, decision: string } }>('/__idp/mfa/push/:key/:decision', async (request, reply) => {
    const { key, decision } = request.params
    if (decision !== 'approve' && decision !== 'reject') throw new OAuthError(404, 'not_found', 'Use /approve or /reject')
    try {
      if (decision === 'approve') control.approvePush(key)
      else control.rejectPush(key)
    } catch (err) {
      throw new OAuthError(404, 'not_found', err instanceof Error ? err.message : 'No push challenge')
    }
    return await reply.code(204).send()
  })
  app.get<{ Params: { key: string } }>('/__idp/mfa/binding-code/:key', async request => {
    const code = control.bindingCode(request.params.key)
    if (code === undefined) throw new OAuthError(404, 'not_found', 'No binding code for this user or oob_code')
    return { binding_code: code }
  })
  app.get<{ Params: { userId: string } }>('/__idp/mfa/recovery-code/:userId', async request => {
    const code = control.recoveryCode(request.params.userId)
    if (code === undefined) throw new OAuthError(404, 'not_found', 'No recovery code for this user')
    return { recovery_code: code }
  })
  app.get('/__idp/mfa/messages', async () => control.messages)
  app.delete<{ Querystring: { identifier?: string } }>('/__idp/brute-force', async (request, reply) => {
    control.clearBruteForce(request.query.identifier)
    return await reply.code(204).send()
  })
}
