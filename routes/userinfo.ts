import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import { isSessionOver, sessionExpired } from '../plugins/error-handler.js'
import type { Clock } from '../src/clock.js'
import { GatewayError } from '../src/errors.js'
import { IdpError } from '../src/token/idp-error.js'
import { createUserinfoClient } from '../src/token/userinfo-client.js'
import { errorResponses } from './schemas.js'

export interface UserinfoRoutesOptions {
  clock: Clock
  /** The (instrumented) fetch for IdP calls. */
  fetch?: typeof fetch | undefined
}

/** At most this many sessions' userinfo answers are kept per process (least recently used dropped). */
const CACHE_MAX_ENTRIES = 10_000

interface CachedUserinfo {
  readonly body: Record<string, unknown>
  /** When it was fetched, epoch ms (the injected clock). */
  readonly fetchedAt: number
}

const userinfoReply = {
  type: 'object',
  required: ['sub'],
  additionalProperties: true,
  properties: { sub: { type: 'string' } }
} as const

/**
 * GET /session/userinfo: the IdP's `/userinfo` answer for the session, with the session's (fresh) access token.
 * Auth0 allows about 5 calls a minute per user, so answers are cached per session in this process (USERINFO_CACHE_TTL,
 * keyed by the storage key, bounded LRU; no store write). A 429 serves the cached copy however old, else answers
 * 429 rate_limited with Retry-After, and the IdP is not asked again for that session before Retry-After.
 * A 401 forces one refresh and asks once more; refused again (or the refresh refused), the session is ended:
 * 401 session_expired. IdP down: 502 idp_unavailable; no answer within IDP_TIMEOUT: 504 idp_timeout.
 */
export default async function userinfoRoutes (fastify: FastifyInstance, opts: UserinfoRoutesOptions): Promise<void> {
  const { clock } = opts
  const ttlMs = fastify.config.userinfo.cacheTtlMs
  const client = createUserinfoClient({ url: fastify.config.idp.userinfoUrl, timeoutMs: fastify.config.idp.timeoutMs, clock, fetch: opts.fetch })
  const cache = new LRUCache<string, CachedUserinfo>({ max: CACHE_MAX_ENTRIES })
  /** Per session: no userinfo call before this time, epoch ms (after an IdP 429). */
  const blockedUntil = new LRUCache<string, number>({ max: CACHE_MAX_ENTRIES })

  function rateLimited (reply: FastifyReply, key: string, cached: CachedUserinfo | undefined, until: number, log: FastifyRequest['log']): Record<string, unknown> {
    blockedUntil.set(key, until)
    if (cached !== undefined) {
      log.info({ event: 'userinfo', outcome: 'rate_limited_cached' }, 'userinfo rate limited by the IdP; serving the cached answer')
      reply.header('age', String(Math.max(0, Math.floor((clock.now() - cached.fetchedAt) / 1000))))
      return cached.body
    }
    log.warn({ event: 'userinfo', outcome: 'rate_limited' }, 'userinfo rate limited by the IdP and nothing cached for the session')
    throw new GatewayError('rate_limited', { retryAfter: Math.max(1, Math.ceil((until - clock.now()) / 1000)) })
  }

  function mapped (err: IdpError, log: FastifyRequest['log']): GatewayError {
    if (err.kind === 'timeout') return new GatewayError('idp_timeout', { cause: err })
    log.warn({ event: 'userinfo', outcome: 'failed', idp: err.toJSON() }, 'userinfo call failed')
    return new GatewayError('idp_unavailable', { cause: err })
  }

  /** The session ends: its tokens are refused even after a refresh (user blocked or deleted, grant revoked). */
  async function ended (request: FastifyRequest, reply: FastifyReply, cause: unknown): Promise<never> {
    await fastify.gatewayAuth.logout(request, reply)
    throw sessionExpired(request, reply, cause)
  }

  /** Calls /userinfo; on a 401, once more with the newer token (another request's refresh, or a forced one). */
  async function fetchWithRetry (request: FastifyRequest, reply: FastifyReply): Promise<Record<string, unknown>> {
    const refused = request.accessToken
    try {
      return await client.fetch(refused)
    } catch (err) {
      if (!(err instanceof IdpError) || err.status !== 401) throw err
    }
    let token: string
    try {
      token = (await fastify.refresher.renewRefused(request)).accessToken
    } catch (err) {
      if (isSessionOver(err)) return await ended(request, reply, err)
      throw err
    }
    try {
      return await client.fetch(token)
    } catch (err) {
      if (err instanceof IdpError && err.status === 401) {
        request.log.info({ event: 'userinfo', outcome: 'invalid_token', idp: err.toJSON() }, 'userinfo refused a just-refreshed access token; session ended')
        return await ended(request, reply, err)
      }
      throw err
    }
  }

  fastify.get('/session/userinfo', {
    onRequest: fastify.verifyCsrf,
    preHandler: fastify.requireAccessToken,
    schema: { response: { 200: userinfoReply, ...errorResponses } }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const key = fastify.sessions.keyOf(request.sessionId)
    const now = clock.now()
    const cached = cache.get(key)
    if (cached !== undefined && now - cached.fetchedAt < ttlMs) {
      reply.header('age', String(Math.max(0, Math.floor((now - cached.fetchedAt) / 1000))))
      return cached.body
    }
    const until = blockedUntil.get(key)
    if (until !== undefined && now < until) return rateLimited(reply, key, cached, until, request.log)
    let body: Record<string, unknown>
    try {
      body = await fetchWithRetry(request, reply)
    } catch (err) {
      if (!(err instanceof IdpError)) throw err
      if (err.status === 429) return rateLimited(reply, key, cached, clock.now() + (err.retryAfter ?? 60) * 1000, request.log)
      throw mapped(err, request.log)
    }
    blockedUntil.delete(key)
    cache.set(key, { body, fetchedAt: clock.now() })
    return body
  })
}
