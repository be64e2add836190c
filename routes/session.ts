import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { sessionView } from '../src/session/session-view.js'
import type { Credentials } from '../plugins/auth.js'
import { credentialsSchema, errorResponses, loginReply, mfaRequiredReply, sessionViewSchema } from './schemas.js'

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
    // Login throttling (per IP, IP+username, username or device) needs the parsed body: a preHandler, before any IdP call.
    preHandler: fastify.loginThrottle.login,
    bodyLimit: LOGIN_BODY_LIMIT,
    schema: { body: credentialsSchema, response: { 200: loginReply, ...errorResponses, 401: mfaRequiredReply } }
  }, async (request, reply) => {
    let record
    try {
      record = await fastify.gatewayAuth.login(request, reply, request.body)
    } catch (err) {
      // Only a wrong password stays counted against the user (or device); a right one earns a device cookie.
      await fastify.loginThrottle.settle(request, reply, err instanceof GatewayError ? err.code : 'internal_error')
      // A second factor is due: the pending login keeps the mfa_token server-side (plugins/mfa.ts).
      if (err instanceof GatewayError && err.code === 'mfa_required') return await fastify.mfa.begin(request, reply, err, request.body)
      throw err
    }
    await fastify.loginThrottle.settle(request, reply, 'ok')
    const view = sessionView(record, idleTimeoutMs)
    // Native clients' header session: the signed session id, never an IdP token (README "Native clients").
    return request.sessionTransport === 'header' ? { ...view, session_handle: fastify.signCookie(request.sessionId) } : view
  })

  fastify.get('/session', {
    // A foreign page must not even probe who is signed in (same-site pages get the SameSite cookie too).
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireAccessToken,
    schema: { response: { 200: sessionViewSchema, ...errorResponses } }
  }, async (request) => {
    if (request.gatewaySession === null) throw new GatewayError('no_session')
    return sessionView(request.gatewaySession, idleTimeoutMs)
  })

  fastify.delete('/session', {
    onRequest: fastify.verifyCsrf,
    schema: { response: { 204: { type: 'null' }, ...errorResponses } }
  }, async (request, reply) => {
    await fastify.gatewayAuth.logout(request, reply)
    return await reply.code(204).send()
  })
}
