import cookie from '@fastify/cookie'
import { LRUCache } from 'lru-cache'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyRequest {
    /** The session id from a validly signed session cookie, or undefined. Needs a new cookie when `renew` is set. */
    readSessionCookie (): { id: string, renew: boolean } | undefined
  }
  interface FastifyReply {
    setSessionCookie (id: string): FastifyReply
    clearSessionCookie (): FastifyReply
  }
}

/** How many verified cookie values are remembered (about 200 bytes each). */
const VERIFIED_COOKIE_CACHE_SIZE = 10_000

/**
 * The session cookie: HttpOnly, Secure, SameSite, Path=/, no Domain (so `__Host-` holds), value = the signed opaque
 * session id. Secrets rotate as a list: the first signs, all verify, and a cookie signed by an older one is renewed.
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

  fastify.decorateRequest('readSessionCookie', function (this: FastifyRequest) {
    const raw = this.cookies[settings.name]
    if (raw === undefined || raw === '') return undefined
    const known = verified.get(raw)
    if (known !== undefined) return known
    const result = this.unsignCookie(raw)
    if (!result.valid || result.value === null) return undefined
    const cookie = { id: result.value, renew: result.renew }
    verified.set(raw, cookie)
    return cookie
  })

  fastify.decorateReply('setSessionCookie', function (this: FastifyReply, id: string) {
    return this.setCookie(settings.name, id, { ...attributes, signed: true, maxAge: Math.floor(session.absoluteTimeoutMs / 1000) })
  })

  fastify.decorateReply('clearSessionCookie', function (this: FastifyReply) {
    return this.clearCookie(settings.name, attributes)
  })
}

export default fp(sessionCookiePlugin, { fastify: '5.x', name: 'bff-session-cookie', dependencies: ['bff-config'] })
