import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { GatewayError } from '../src/errors.js'
import type { UserSessionEntry } from '../src/session/session-store.js'
import { isWellFormedHandle, sessionHandleOf } from '../src/session/user-index.js'
import { errorResponses } from './schemas.js'

/** One session as a client (or an operator) sees it: never an id, storage key or token. */
export interface SessionSummary {
  handle: string
  created_at: string
  last_seen_at: string
  user_agent?: string
  ip?: string
  current: boolean
}

export const sessionSummarySchema = {
  type: 'object',
  required: ['handle', 'created_at', 'last_seen_at', 'current'],
  additionalProperties: false,
  properties: {
    handle: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    last_seen_at: { type: 'string', format: 'date-time' },
    user_agent: { type: 'string' },
    ip: { type: 'string' },
    current: { type: 'boolean' }
  }
} as const

export const sessionListSchema = {
  type: 'object',
  required: ['sessions'],
  additionalProperties: false,
  properties: { sessions: { type: 'array', items: sessionSummarySchema } }
} as const

export const endedSchema = {
  type: 'object',
  required: ['ended'],
  additionalProperties: false,
  properties: { ended: { type: 'integer', minimum: 0 } }
} as const

export const handleParam = { type: 'string', minLength: 1, maxLength: 64 } as const

/** The opaque handle of a session: an HMAC of its storage key under the newest SESSION_SECRET. */
export function handleFor (fastify: FastifyInstance, key: string): string {
  return sessionHandleOf(fastify.config.cookie.secrets[0] ?? '', key)
}

export function summarise (fastify: FastifyInstance, entry: UserSessionEntry, currentKey: string | undefined): SessionSummary {
  const { record } = entry
  return {
    handle: handleFor(fastify, entry.key),
    created_at: new Date(record.createdAt).toISOString(),
    last_seen_at: new Date(record.lastSeenAt).toISOString(),
    ...(record.userAgent === undefined ? {} : { user_agent: record.userAgent }),
    ...(record.ip === undefined ? {} : { ip: record.ip }),
    current: entry.key === currentKey
  }
}

/** The entry a handle names among a user's sessions, or undefined. */
export function findByHandle (fastify: FastifyInstance, entries: readonly UserSessionEntry[], handle: string): UserSessionEntry | undefined {
  if (!isWellFormedHandle(handle)) return undefined
  return entries.find(entry => handleFor(fastify, entry.key) === handle)
}

/**
 * Ends sessions through the one place sessions end (src/session/session-end.ts): each is taken out of the store, its
 * refresh token revoked (a failed revocation is logged and never keeps a session alive), its tunnels closed on every
 * replica. In parallel. Returns how many were ended.
 */
export async function endSessions (fastify: FastifyInstance, entries: readonly UserSessionEntry[], reason: 'logout_all' | 'admin', context: { log: FastifyBaseLogger, ip?: string }): Promise<number> {
  await Promise.all(entries.map(async entry => { await fastify.sessions.endKey(entry.key, reason, context) }))
  return entries.length
}

/**
 * The caller's own sessions (issue #11): GET /session/all lists them, DELETE /session/all ends all of them (or the
 * others with `?others=true`), DELETE /session/all/:handle ends one. A session without a `sub` (no id_token) sees
 * only itself.
 */
export default async function mySessionsRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  /** The caller's live sessions, the current one included even when the store keeps no index. */
  async function mine (sub: string, currentKey: string, current: UserSessionEntry['record']): Promise<UserSessionEntry[]> {
    const entries = await fastify.sessions.listForUser(sub)
    return entries.some(entry => entry.key === currentKey) ? entries : [...entries, { key: currentKey, record: current }]
  }

  fastify.get('/session/all', {
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireSession,
    schema: { response: { 200: sessionListSchema, ...errorResponses } }
  }, async (request) => {
    const session = request.session
    if (session === null) throw new GatewayError('no_session')
    const currentKey = fastify.sessions.keyOf(request.sessionId)
    const entries = await mine(session.sub, currentKey, session)
    return { sessions: entries.map(entry => summarise(fastify, entry, currentKey)) }
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
    const session = request.session
    if (session === null) throw new GatewayError('no_session')
    const others = request.query.others === 'true'
    const currentKey = fastify.sessions.keyOf(request.sessionId)
    const entries = await mine(session.sub, currentKey, session)
    const ended = await endSessions(fastify, entries.filter(entry => !others || entry.key !== currentKey), 'logout_all', { log: request.log, ip: request.ip })
    if (!others) {
      reply.clearSessionCookie()
      request.session = null
    }
    request.log.info({ event: 'logout', scope: others ? 'others' : 'all', sub: session.sub, count: ended }, others ? 'other sessions ended' : 'all sessions ended')
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
    const session = request.session
    if (session === null) throw new GatewayError('no_session')
    const currentKey = fastify.sessions.keyOf(request.sessionId)
    const entry = findByHandle(fastify, await mine(session.sub, currentKey, session), request.params.handle)
    if (entry === undefined) throw new GatewayError('session_not_found')
    const ended = await endSessions(fastify, [entry], 'logout_all', { log: request.log, ip: request.ip })
    if (entry.key === currentKey) {
      reply.clearSessionCookie()
      request.session = null
    }
    request.log.info({ event: 'logout', scope: 'one', sub: session.sub, current: entry.key === currentKey }, 'session ended')
    return { ended }
  })
}
