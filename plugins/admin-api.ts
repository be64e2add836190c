import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { errorReply } from '../routes/schemas.js'
import { endSessions, endedSchema, findByHandle, handleParam, sessionSummarySchema, summarise } from '../routes/my-sessions.js'
import { sendError } from './error-handler.js'

/** Constant-time comparison of two secrets of any length (their SHA-256 digests are compared). */
export function sameSecret (given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

const subParam = { type: 'string', minLength: 1, maxLength: 256 } as const

const adminSessionSchema = {
  ...sessionSummarySchema,
  required: sessionSummarySchema.required.filter(name => name !== 'current'),
  properties: (({ current: _current, ...rest }) => rest)(sessionSummarySchema.properties)
}

const adminErrors = { '4xx': { $ref: 'ErrorReply#' }, '5xx': { $ref: 'ErrorReply#' } } as const

type AuditAction = 'admin.sessions.list' | 'admin.sessions.end_all' | 'admin.sessions.end_one'

/**
 * The operators' session API (issue #11), on the admin server only (ADMIN_PORT, never the public port), with
 * ADMIN_API=on: list a user's sessions, end all of them, end one; refresh tokens are revoked at the IdP. Every call
 * needs `Authorization: Bearer <ADMIN_TOKEN>` (else 401 admin_unauthorized with `WWW-Authenticate: Bearer`), and every
 * action is logged as an audit event: `{ event: 'audit', action, sub, count, ip }` (never a token or a handle's key).
 */
async function adminApiPlugin (fastify: FastifyInstance): Promise<void> {
  const { api, token } = fastify.config.admin
  if (!api || token === undefined) return
  const expected = token

  fastify.adminServer.addRoutes(async function adminApiRoutes (admin) {
    admin.addSchema(errorReply)
    admin.decorateReply('errorCode', null)

    admin.setErrorHandler(function (err: FastifyError, request, reply) {
      if (err instanceof GatewayError) return sendError(reply, err)
      if (err.validation !== undefined) return sendError(reply, new GatewayError('invalid_request', { message: err.message }))
      request.log.error({ err }, 'admin API: unexpected error')
      return sendError(reply, new GatewayError('internal_error'))
    })

    admin.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      reply.header('cache-control', 'no-store')
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')
      const given = match?.[1]
      if (given !== undefined && sameSecret(given, expected)) return
      request.log.warn({ event: 'audit', action: 'admin.unauthorized', outcome: given === undefined ? 'missing_token' : 'wrong_token', ip: request.ip }, 'admin API: request refused')
      reply.header('www-authenticate', given === undefined ? 'Bearer realm="bff-admin"' : 'Bearer realm="bff-admin", error="invalid_token"')
      throw new GatewayError('admin_unauthorized')
    })

    function audit (request: FastifyRequest, action: AuditAction, sub: string, count: number): void {
      request.log.info({ event: 'audit', action, sub, count, ip: request.ip }, `admin API: ${action}`)
    }

    admin.get<{ Params: { sub: string } }>('/admin/users/:sub/sessions', {
      schema: {
        params: { type: 'object', required: ['sub'], additionalProperties: false, properties: { sub: subParam } },
        response: {
          200: {
            type: 'object',
            required: ['sub', 'sessions'],
            additionalProperties: false,
            properties: { sub: { type: 'string' }, sessions: { type: 'array', items: adminSessionSchema } }
          },
          ...adminErrors
        }
      }
    }, async (request) => {
      const { sub } = request.params
      const entries = await fastify.sessions.listForUser(sub)
      audit(request, 'admin.sessions.list', sub, entries.length)
      return { sub, sessions: entries.map(entry => summarise(fastify, entry, undefined)) }
    })

    admin.delete<{ Params: { sub: string } }>('/admin/users/:sub/sessions', {
      schema: {
        params: { type: 'object', required: ['sub'], additionalProperties: false, properties: { sub: subParam } },
        response: { 200: endedSchema, ...adminErrors }
      }
    }, async (request) => {
      const { sub } = request.params
      const ended = await endSessions(fastify, await fastify.sessions.listForUser(sub), 'admin', { log: request.log })
      audit(request, 'admin.sessions.end_all', sub, ended)
      return { ended }
    })

    admin.delete<{ Params: { sub: string, handle: string } }>('/admin/users/:sub/sessions/:handle', {
      schema: {
        params: { type: 'object', required: ['sub', 'handle'], additionalProperties: false, properties: { sub: subParam, handle: handleParam } },
        response: { 200: endedSchema, ...adminErrors }
      }
    }, async (request) => {
      const { sub, handle } = request.params
      const entry = findByHandle(fastify, await fastify.sessions.listForUser(sub), handle)
      if (entry === undefined) {
        audit(request, 'admin.sessions.end_one', sub, 0)
        throw new GatewayError('session_not_found')
      }
      const ended = await endSessions(fastify, [entry], 'admin', { log: request.log })
      audit(request, 'admin.sessions.end_one', sub, ended)
      return { ended }
    })
  })
}

export default fp(adminApiPlugin, {
  fastify: '5.x',
  name: 'bff-admin-api',
  dependencies: ['bff-config', 'bff-admin', 'bff-sessions', 'bff-auth']
})
