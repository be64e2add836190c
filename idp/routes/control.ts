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
}
