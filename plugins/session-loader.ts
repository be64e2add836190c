import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { hasSessionAuthorization, signedSessionIdFrom } from '../src/session/header-session.js'
import type { SessionRecord } from '../src/session/session-store.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: sets request.gatewaySession (or leaves it null) from the session cookie. Never fails on a bad cookie. */
    loadSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preHandler: like loadSession, but answers 401 no_session without a live session. */
    requireSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
  interface FastifyRequest {
    gatewaySession: SessionRecord | null
    sessionId: string
    /** How the request's session came: the cookie, or `Authorization: Session <handle>` (native clients). */
    sessionTransport: SessionTransport
  }
}

export type SessionTransport = 'cookie' | 'header'

/**
 * Finds the request's session: from the session cookie (renewed when signed by an older secret), or from a native
 * client's `Authorization: Session <handle>` when ALLOW_HEADER_SESSIONS is on.
 */
async function sessionLoaderPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorateRequest('gatewaySession', null)
  fastify.decorateRequest('sessionId', '')
  fastify.decorateRequest('sessionTransport', 'cookie')

  const headerSessions = fastify.config.login.headerSessions

  /** Attaches the live session an id names, if any; true when one was attached. */
  async function attachSession (request: FastifyRequest, id: string, source: 'cookie' | 'header'): Promise<boolean> {
    const record = await fastify.sessions.load(id)
    if (record === undefined) {
      request.log.debug(`the session ${source} names no live session`)
      return false
    }
    request.gatewaySession = record
    request.sessionId = id
    return true
  }

  /** A native client's `Authorization: Session <signed id>`: the same signed id as the cookie, checked the same way. */
  async function loadHeaderSession (request: FastifyRequest): Promise<void> {
    request.sessionTransport = 'header'
    const signed = signedSessionIdFrom(request.headers.authorization)
    const verified = signed === undefined ? undefined : request.verifySignedSessionId(signed)
    if (verified !== undefined) await attachSession(request, verified.id, 'header')
  }

  async function loadSession (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.gatewaySession !== null) return
    // A request that presents a header session is judged by it alone (it skipped the CSRF header check for that).
    if (headerSessions && hasSessionAuthorization(request.headers.authorization)) {
      await loadHeaderSession(request)
      return
    }
    const cookie = request.readSessionCookie()
    if (cookie === undefined) return
    if (await attachSession(request, cookie.id, 'cookie') && cookie.renew) reply.setSessionCookie(cookie.id)
  }

  fastify.decorate('loadSession', loadSession)
  fastify.decorate('requireSession', async function (request: FastifyRequest, reply: FastifyReply) {
    await loadSession(request, reply)
    if (request.gatewaySession === null) throw new GatewayError('no_session')
  })
}

export default fp(sessionLoaderPlugin, {
  fastify: '5.x',
  name: 'bff-session-loader',
  dependencies: ['bff-config', 'bff-sessions', 'bff-session-cookie']
})
