import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { GatewayError } from '../src/errors.js'
import { hasSessionAuthorization } from '../src/session/header-session.js'
import { publicOriginLookup } from '../src/http/public-origin.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served whatever the Host (the probes: kubelet and Docker ask by IP), even with PUBLIC_ORIGIN set. */
    anyHost?: boolean
  }
  interface FastifyInstance {
    /**
     * onRequest hook for routes a browser could be tricked into calling: a present `Origin` must be the gateway's own
     * or listed in ALLOWED_ORIGINS (else 403 origin_forbidden), and every method but GET, HEAD and OPTIONS must carry
     * the CSRF header with the value `1` (else 403 csrf_required).
     */
    verifyCsrf: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const CORS_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'
/** How long a browser may cache a granted preflight, seconds. */
const PREFLIGHT_MAX_AGE_SEC = 600

/**
 * Without PUBLIC_ORIGIN, the gateway's own origin as the browser sees it, derived from `Host`. Behind TLS termination
 * the scheme may read `http`, so https is accepted too. A DNS-rebinding page (evil.example resolving to the gateway)
 * passes this test: PUBLIC_ORIGIN is the fix.
 */
function isHostOrigin (request: FastifyRequest, origin: string): boolean {
  const host = request.host
  return origin === `${request.protocol}://${host}` || origin === `https://${host}`
}

/**
 * CSRF and origin rules. A browser sends a custom header cross-origin only after a CORS preflight, which is granted
 * (with credentials) to ALLOWED_ORIGINS only; a cross-site form cannot send it at all. So the header is the proof, and
 * the Origin check refuses foreign pages even on safe methods and on WebSocket upgrades (which cannot carry the header).
 *
 * The hooks are callback-style on purpose: they sit on the proxy's hot path and are synchronous, so an async function
 * would only add a promise per request.
 */
async function csrfPlugin (fastify: FastifyInstance): Promise<void> {
  const { headerName, allowedOrigins } = fastify.config.csrf
  const headerSessions = fastify.config.login.headerSessions
  const { publicOrigins } = fastify.config.server
  const allowed = new Set(allowedOrigins)
  const own = new Set(publicOrigins)
  /** With PUBLIC_ORIGIN, exactly those origins are the gateway's own, whatever the Host says. */
  const isOwnOrigin = own.size === 0 ? isHostOrigin : (_request: FastifyRequest, origin: string): boolean => own.has(origin)

  function isAllowedOrigin (request: FastifyRequest, origin: string): boolean {
    return allowed.has(origin) || isOwnOrigin(request, origin)
  }

  fastify.decorate('verifyCsrf', function verifyCsrf (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    const origin = request.headers.origin
    if (origin !== undefined && !isAllowedOrigin(request, origin)) {
      done(new GatewayError('origin_forbidden'))
      return
    }
    // A header session (`Authorization: Session …`, native clients) is never sent by a browser on its own, so it
    // needs no anti-CSRF header; such a request is judged by that header alone, never by the cookie (loadSession).
    if (!SAFE_METHODS.has(request.method) && request.headers[headerName] !== '1' && !(headerSessions && hasSessionAuthorization(request.headers.authorization))) {
      done(new GatewayError('csrf_required', { message: `This request needs the header ${headerName}: 1` }))
      return
    }
    done()
  })

  // PUBLIC_ORIGIN: a request for any other host is refused before anything else looks at it (DNS rebinding, and
  // links an upstream would build from a forged Host). Behind a TRUST_PROXY address, request.host is the proxy's
  // X-Forwarded-Host. Header sessions and native clients (no Origin) are held to it as well.
  if (own.size > 0) {
    const publicOrigin = publicOriginLookup(publicOrigins)
    fastify.addHook('onRequest', function checkHost (request, _reply, done) {
      if (publicOrigin(request.host) === undefined && request.routeOptions.config.anyHost !== true) {
        done(new GatewayError('misdirected_request'))
        return
      }
      done()
    })
  }

  // CORS for the listed origins, on every route (a preflight for POST /session has no OPTIONS route of its own).
  // Requests without an Origin header, the usual case for same-origin GETs and non-browser clients, return at once.
  fastify.addHook('onRequest', function cors (request, reply, done) {
    const origin = request.headers.origin
    if (origin === undefined) {
      done()
      return
    }
    reply.header('vary', 'Origin')
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined
    if (!allowed.has(origin)) {
      // A same-origin page needs no CORS headers; a foreign page gets none, and no preflight.
      if (preflight && !isOwnOrigin(request, origin)) {
        done(new GatewayError('origin_forbidden'))
        return
      }
      done()
      return
    }
    reply.header('access-control-allow-origin', origin)
    reply.header('access-control-allow-credentials', 'true')
    if (!preflight) {
      done()
      return
    }
    reply.header('access-control-allow-methods', CORS_METHODS)
    reply.header('access-control-allow-headers', request.headers['access-control-request-headers'] ?? `content-type, ${headerName}`)
    reply.header('access-control-max-age', String(PREFLIGHT_MAX_AGE_SEC))
    // Answered here; a callback hook that sends a reply does not call done().
    reply.code(204).send()
  })
}

export default fp(csrfPlugin, { fastify: '5.x', name: 'bff-csrf', dependencies: ['bff-config', 'bff-error-handler'] })
