import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { sessionView } from '../src/session/session-view.js'
import type { Credentials } from '../plugins/auth.js'
import { credentialsSchema, errorResponses, sessionViewSchema } from './schemas.js'

/** Login bodies are small; anything bigger is refused before it is parsed. */
const LOGIN_BODY_LIMIT = 8 * 1024

/** POST /session (login), GET /session (who am I), DELETE /session (logout). */
export default async function sessionRoutes (fastify: FastifyInstance): Promise<void> {
  // Login takes JSON or a form; nothing else (text/plain would otherwise reach validation as a string).
  fastify.removeContentTypeParser('text/plain')
  await fastify.register(formbody, { bodyLimit: LOGIN_BODY_LIMIT })
  const idleTimeoutMs = fastify.config.session.idleTimeoutMs

  fastify.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  fastify.post<{ Body: Credentials }>('/session', {
    onRequest: fastify.verifyCsrf,
    bodyLimit: LOGIN_BODY_LIMIT,
    schema: { body: credentialsSchema, response: { 200: sessionViewSchema, ...errorResponses } }
  }, async (request, reply) => {
    const record = await fastify.auth.login(request, reply, request.body)
    return sessionView(record, idleTimeoutMs)
  })

  fastify.get('/session', {
    preHandler: [fastify.requireSession, fastify.ensureFreshAccessToken],
    schema: { response: { 200: sessionViewSchema, ...errorResponses } }
  }, async (request) => {
    if (request.session === null) throw new GatewayError('no_session')
    return sessionView(request.session, idleTimeoutMs)
  })

  fastify.delete('/session', {
    onRequest: fastify.verifyCsrf,
    schema: { response: { 204: { type: 'null' }, ...errorResponses } }
  }, async (request, reply) => {
    await fastify.auth.logout(request, reply)
    return await reply.code(204).send()
  })
}
