import cookie from '@fastify/cookie'
import { LRUCache } from 'lru-cache'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyRequest {
    /** The session id from a validly signed session cookie, or undefined. Needs a new cookie when `renew` is set. */
    readSessionCookie (): { id: string, renew: boolean } | undefined
    /** Verifies a signed session id (a cookie value or a native client's handle); undefined when the signature fails. */
    verifySignedSessionId (signed: string): { id: string, renew: boolean } | undefined
  }
  interface FastifyReply {
    setSessionCookie (id: string): FastifyReply
    clearSessionCookie (): FastifyReply
    /** Sets one of the gateway's own cookies (the session's, `-mfa`, `-device`), with the attributes they all share. */
    setGatewayCookie (name: string, value: string, options: GatewayCookieOptions): FastifyReply
    /** Clears one of the gateway's own cookies (same attributes, so the browser matches it). */
    clearGatewayCookie (name: string): FastifyReply
  }
}

export interface GatewayCookieOptions {
  /** Signed with the first SESSION_SECRET (verified with request.unsignCookie). */
  signed?: boolean
  maxAgeSec: number
}

/** How many verified signed session ids (cookie values, native handles) are remembered (about 200 bytes each). */
const VERIFIED_COOKIE_CACHE_SIZE = 10_000

/**
 * The session cookie: HttpOnly, Secure, SameSite, Path=/, no Domain (so `__Host-` holds), value = the signed opaque
 * session id. Secrets rotate as a list: the first signs, all verify, and a cookie signed by an older one is renewed.
 * The gateway's other cookies (`-mfa`, `-device`) get the same attributes through setGatewayCookie.
 */
async function sessionCookiePlugin (fastify: FastifyInstance): Promise<void> {
  const { cookie: settings, session } = fastify.config
  await fastify.register(cookie, { secret: [...settings.secrets], algorithm: 'sha256' })
  const attributes = {
    httpOnly: true,
    secure: true,
    sameSite: settings.sameSite,
    path: '/'
  } as const

  // Checking a signature (HMAC-SHA256) on every proxied request was a measurable share of the gateway's cost. A cookie
  // value verified once verifies the same way again, so verified values are remembered (exact match; only valid ones,
  // so unsigned garbage cannot fill the cache; bounded, so it cannot grow without limit).
  const verified = new LRUCache<string, { id: string, renew: boolean }>({ max: VERIFIED_COOKIE_CACHE_SIZE })

  function verifySignedSessionId (this: FastifyRequest, signed: string): { id: string, renew: boolean } | undefined {
    const known = verified.get(signed)
    if (known !== undefined) return known
    const result = this.unsignCookie(signed)
    if (!result.valid || result.value === null) return undefined
    const checked = { id: result.value, renew: result.renew }
    verified.set(signed, checked)
    return checked
  }

  fastify.decorateRequest('verifySignedSessionId', verifySignedSessionId)
  fastify.decorateRequest('readSessionCookie', function (this: FastifyRequest) {
    const raw = this.cookies[settings.name]
    return raw === undefined || raw === '' ? undefined : verifySignedSessionId.call(this, raw)
  })

  fastify.decorateReply('setGatewayCookie', function (this: FastifyReply, name: string, value: string, options: GatewayCookieOptions) {
    return this.setCookie(name, value, { ...attributes, signed: options.signed ?? false, maxAge: options.maxAgeSec })
  })

  fastify.decorateReply('clearGatewayCookie', function (this: FastifyReply, name: string) {
    return this.clearCookie(name, attributes)
  })

  fastify.decorateReply('setSessionCookie', function (this: FastifyReply, id: string) {
    return this.setGatewayCookie(settings.name, id, { signed: true, maxAgeSec: Math.floor(session.absoluteTimeoutMs / 1000) })
  })

  fastify.decorateReply('clearSessionCookie', function (this: FastifyReply) {
    return this.clearGatewayCookie(settings.name)
  })
}

export default fp(sessionCookiePlugin, { fastify: '5.x', name: 'bff-session-cookie', dependencies: ['bff-config'] })
