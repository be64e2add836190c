import type { FastifyInstance, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { createSessionAdmin } from '../src/session/session-admin.js'
import type { UserSessionEntry } from '../src/session/session-store.js'
import { endedSchema, errorResponses, handleParam, sessionSummarySchema } from './schemas.js'

const sessionListSchema = {
  type: 'object',
  required: ['sessions'],
  additionalProperties: false,
  properties: { sessions: { type: 'array', items: sessionSummarySchema } }
} as const

/**
 * The caller's own sessions (issue #11): GET /session/all lists them, DELETE /session/all ends all of them (or the
 * others with `?others=true`), DELETE /session/all/:handle ends one. A session without a `sub` (no id_token) sees
 * only itself.
 */
export default async function mySessionsRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  const sessionAdmin = createSessionAdmin({ sessions: fastify.sessions, secret: fastify.config.cookie.secrets[0] ?? '' })

  /** The caller's session (the request's, live) and their sessions, the current one included. */
  async function mine (request: FastifyRequest): Promise<{ sub: string, currentKey: string, entries: UserSessionEntry[] }> {
    const session = request.gatewaySession
    if (session === null) throw new GatewayError('no_session')
    const currentKey = fastify.sessions.keyOf(request.sessionId)
    return { sub: session.sub, currentKey, entries: await sessionAdmin.list(session.sub, { key: currentKey, record: session }) }
  }

  fastify.get('/session/all', {
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireSession,
    schema: { response: { 200: sessionListSchema, ...errorResponses } }
  }, async (request) => {
    const { currentKey, entries } = await mine(request)
    return { sessions: entries.map(entry => sessionAdmin.summarise(entry, currentKey)) }
  })

  fastify.delete<{ Querystring: { others?: 'true' | 'false' } }>('/session/all', {
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireSession,
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { others: { type: 'string', enum: ['true', 'false'] } }
      },
      response: { 200: endedSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const others = request.query.others === 'true'
    const { sub, currentKey, entries } = await mine(request)
    const ended = await sessionAdmin.end(entries.filter(entry => !others || entry.key !== currentKey), 'logout_all', { log: request.log, ip: request.ip })
    if (!others) {
      reply.clearSessionCookie()
      request.gatewaySession = null
    }
    request.log.info({ event: 'logout', scope: others ? 'others' : 'all', sub, count: ended }, others ? 'other sessions ended' : 'all sessions ended')
    return { ended }
  })

  fastify.delete<{ Params: { handle: string } }>('/session/all/:handle', {
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireSession,
    schema: {
      params: { type: 'object', required: ['handle'], additionalProperties: false, properties: { handle: handleParam } },
      response: { 200: endedSchema, ...errorResponses }
    }
  }, async (request, reply) => {
    const { sub, currentKey, entries } = await mine(request)
    const entry = sessionAdmin.find(entries, request.params.handle)
    if (entry === undefined) throw new GatewayError('session_not_found')
    const ended = await sessionAdmin.end([entry], 'logout_all', { log: request.log, ip: request.ip })
    if (entry.key === currentKey) {
      reply.clearSessionCookie()
      request.gatewaySession = null
    }
    request.log.info({ event: 'logout', scope: 'one', sub, current: entry.key === currentKey }, 'session ended')
    return { ended }
  })
}
