import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { handleError } from '../plugins/error-handler.js'
import { sameSecret } from '../src/crypto/same-secret.js'
import { GatewayError } from '../src/errors.js'
import { createSessionAdmin } from '../src/session/session-admin.js'
import { endedSchema, errorReply, errorResponses, handleParam, sessionSummarySchema } from './schemas.js'

const subParam = { type: 'string', minLength: 1, maxLength: 256 } as const

const adminSessionSchema = {
  ...sessionSummarySchema,
  required: sessionSummarySchema.required.filter(name => name !== 'current'),
  properties: (({ current: _current, ...rest }) => rest)(sessionSummarySchema.properties)
}

type AuditAction = 'admin.sessions.list' | 'admin.sessions.end_all' | 'admin.sessions.end_one'

/**
 * The operators' session API (issue #11), on the admin server only (ADMIN_PORT, never the public port), with
 * ADMIN_API=on: list a user's sessions, end all of them, end one; refresh tokens are revoked at the IdP. Every call
 * needs `Authorization: Bearer <ADMIN_TOKEN>` (else 401 admin_unauthorized with `WWW-Authenticate: Bearer`), and every
 * action is logged as an audit event: `{ event: 'audit', action, sub, count, ip }` (never a token or a handle's key).
 * Registered on the main app like the other routes; the routes go to the admin server (plugins/admin.ts addRoutes).
 */
export default async function adminApiRoutes (fastify: FastifyInstance): Promise<void> {
  const { api, token } = fastify.config.admin
  if (!api || token === undefined) return
  const expected = token
  const sessionAdmin = createSessionAdmin({ sessions: fastify.sessions, secret: fastify.config.cookie.secrets[0] ?? '' })

  fastify.adminServer.addRoutes(async function adminApiOnAdminServer (admin) {
    admin.addSchema(errorReply)
    admin.decorateReply('errorCode', null)

    admin.setErrorHandler(handleError)

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
          ...errorResponses
        }
      }
    }, async (request) => {
      const { sub } = request.params
      const entries = await sessionAdmin.list(sub)
      audit(request, 'admin.sessions.list', sub, entries.length)
      return { sub, sessions: entries.map(entry => sessionAdmin.summarise(entry)) }
    })

    admin.delete<{ Params: { sub: string } }>('/admin/users/:sub/sessions', {
      schema: {
        params: { type: 'object', required: ['sub'], additionalProperties: false, properties: { sub: subParam } },
        response: { 200: endedSchema, ...errorResponses }
      }
    }, async (request) => {
      const { sub } = request.params
      const ended = await sessionAdmin.end(await sessionAdmin.list(sub), 'admin', { log: request.log })
      audit(request, 'admin.sessions.end_all', sub, ended)
      return { ended }
    })

    admin.delete<{ Params: { sub: string, handle: string } }>('/admin/users/:sub/sessions/:handle', {
      schema: {
        params: { type: 'object', required: ['sub', 'handle'], additionalProperties: false, properties: { sub: subParam, handle: handleParam } },
        response: { 200: endedSchema, ...errorResponses }
      }
    }, async (request) => {
      const { sub, handle } = request.params
      const entry = sessionAdmin.find(await sessionAdmin.list(sub), handle)
      if (entry === undefined) {
        audit(request, 'admin.sessions.end_one', sub, 0)
        throw new GatewayError('session_not_found')
      }
      const ended = await sessionAdmin.end([entry], 'admin', { log: request.log })
      audit(request, 'admin.sessions.end_one', sub, ended)
      return { ended }
    })
  })
}
