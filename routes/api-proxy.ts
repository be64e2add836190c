import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import proxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import proxyAddr from '@fastify/proxy-addr'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../fastify.config.js'
import { isSessionOver, sendError, sessionExpired } from '../plugins/error-handler.js'
import { GatewayError } from '../src/errors.js'
import { isUnsafePath } from '../src/http/path-segments.js'
import { publicOriginLookup } from '../src/http/public-origin.js'
import { HOP_BY_HOP_REQUEST_HEADERS, STRIPPED_REQUEST_HEADERS, headerNameMatcher } from '../src/proxy/request-headers.js'
import { isUpstreamCorsHeader, mergeVary, upstreamCookieFilter } from '../src/proxy/response-headers.js'

/** What reply-from hands to onResponse (its published type names the wrong class). */
interface UpstreamResponse {
  statusCode: number
  headers: IncomingHttpHeaders
  stream: IncomingMessage
}

type ReplyOptions = NonNullable<FastifyHttpProxyOptions['replyOptions']>
type OnResponse = NonNullable<ReplyOptions['onResponse']>
/** The request and reply types reply-from's hooks receive (any server flavour). */
type ProxiedRequest = Parameters<OnResponse>[0]
type ProxiedReply = Parameters<OnResponse>[1]
type ProxyReply = ProxiedReply & {
  fromParameters (url: string, params?: unknown, prefix?: string): { url: string, options: Record<string, unknown> }
}

/** An upstream's way of saying "this access token is no good" (RFC 6750 §3.1). */
const INVALID_TOKEN = /^\s*bearer\b.*\berror\s*=\s*"?invalid_token"?/i

/**
 * The `/api/*` reverse proxy: one @fastify/http-proxy registration per upstream, longest prefix first, inside this
 * encapsulated scope. The scope's hooks run for every proxied route and for WebSocket upgrades on them:
 *   onRequest   refuseUnsafePath        a dot segment or an encoded slash, raw or encoded twice → 400 invalid_request
 *   onRequest   verifyCsrf              foreign Origin → 403 origin_forbidden; unsafe method without X-CSRF → 403
 *   preHandler  requireAccessToken      no live session → 401 no_session, nothing forwarded; else
 *                                       request.accessToken, refreshed when due
 * The header rewrite is synchronous and only reads what the hooks prepared.
 */
export default async function apiProxyRoutes (fastify: FastifyInstance): Promise<void> {
  const { proxy: settings, cookie: cookieSettings, server, csrf } = fastify.config
  const sessionCookie = cookieSettings.name
  const forwardCookies = new Set(settings.forwardCookies.filter(name => name !== sessionCookie))
  const trustProxy = server.trustProxy !== false
  const isTrustedPeer = server.trustProxy === false ? undefined : proxyAddr.compile([...server.trustProxy])
  const publicOrigin = server.publicOrigins.length === 0 ? undefined : publicOriginLookup(server.publicOrigins)
  /** Hop-by-hop headers, the identity and routing deny-list and STRIP_REQUEST_HEADERS, compiled once. */
  const isStripped = headerNameMatcher([...HOP_BY_HOP_REQUEST_HEADERS, ...STRIPPED_REQUEST_HEADERS, ...settings.stripRequestHeaders])
  const keepUpstreamCookie = upstreamCookieFilter(sessionCookie)
  /** With ALLOWED_ORIGINS, answers vary by Origin even for requests without one (a cache must not mix them). */
  const alwaysVaryOnOrigin = csrf.allowedOrigins.length > 0

  // Bodies stream through as they arrive: none of the app's parsers (nor their body limit) applies to proxied calls.
  fastify.removeAllContentTypeParsers()
  fastify.addHook('onRequest', refuseUnsafePath)
  fastify.addHook('onRequest', fastify.verifyCsrf)
  fastify.addHook('preHandler', fastify.requireAccessToken)

  /** Nothing that could climb out of an upstream's prefix is forwarded, on HTTP or WebSocket (src/http/path-segments.ts). */
  function refuseUnsafePath (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    if (isUnsafePath(request.url)) {
      done(new GatewayError('invalid_request', { message: 'The path has a dot segment, an encoded slash or backslash, or an undecodable escape' }))
      return
    }
    done()
  }

  /**
   * X-Forwarded-Host and -Proto: from PUBLIC_ORIGIN when it is set (the one the request's host names); else from a
   * TRUST_PROXY peer (its X-Forwarded-* or the Host it sent); else none, since a client's Host is its own choice.
   */
  function setForwardedOrigin (request: ProxiedRequest, headers: IncomingHttpHeaders | OutgoingHttpHeaders): void {
    if (publicOrigin !== undefined) {
      const named = publicOrigin(request.host)
      if (named === undefined) return
      headers['x-forwarded-host'] = named.host
      headers['x-forwarded-proto'] = named.proto
    } else if (isTrustedPeer !== undefined && isTrustedPeer(request.raw.socket?.remoteAddress ?? '', 0)) {
      headers['x-forwarded-host'] = request.host
      headers['x-forwarded-proto'] = request.protocol
    }
  }

  /** The client's address chain: only a trusted proxy's X-Forwarded-For is kept, then the peer is appended. */
  function forwardedFor (request: ProxiedRequest): string {
    return trustProxy ? request.ips?.slice().reverse().join(', ') ?? request.ip : request.ip
  }

  /** The Cookie header minus every cookie not listed in FORWARD_COOKIES (the session cookie is never forwarded). */
  function keptCookies (header: string | undefined): string | undefined {
    if (header === undefined || forwardCookies.size === 0) return undefined
    const kept = header.split(';').filter(pair => forwardCookies.has(pair.slice(0, pair.indexOf('=')).trim()))
    return kept.length === 0 ? undefined : kept.map(pair => pair.trim()).join('; ')
  }

  function rewriteRequestHeaders (request: ProxiedRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
    // reply-from passes a copy of the client's headers without Connection and the names it lists. Unset values are
    // skipped by the HTTP client; assigning undefined is cheaper than delete on this path. Stripped: hop-by-hop
    // headers about the client's hop to us (RFC 9110 §7.6.1, proxy credentials; `expect`: Node has already answered
    // 100-continue, the body follows as a stream) and the identity and routing deny-list (src/proxy/request-headers.ts).
    for (const name in headers) if (isStripped(name)) headers[name] = undefined
    headers.authorization = `Bearer ${request.accessToken}`
    if (headers.cookie !== undefined) headers.cookie = keptCookies(headers.cookie)
    headers['x-forwarded-for'] = forwardedFor(request)
    setForwardedOrigin(request, headers)
    headers['x-request-id'] = request.id
    return headers
  }

  /** Headers for the upstream WebSocket handshake: built from scratch, the client's cookies filtered as above. */
  function webSocketHeaders (_defaults: OutgoingHttpHeaders, request: ProxiedRequest): OutgoingHttpHeaders {
    // The tunnel belongs to the session: closed (4401) when it ends (src/session/tunnels.ts).
    fastify.tunnels.expect(request.raw.socket, fastify.sessions.keyOf(request.sessionId))
    const headers: OutgoingHttpHeaders = {
      authorization: `Bearer ${request.accessToken}`,
      'x-forwarded-for': forwardedFor(request),
      'x-request-id': request.id
    }
    setForwardedOrigin(request, headers)
    const cookie = keptCookies(request.headers.cookie)
    if (cookie !== undefined) headers.cookie = cookie
    return headers
  }

  /** Response headers that describe the upstream connection, not ours (RFC 9110 §7.6.1). */
  const DROPPED_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'trailer', 'upgrade'])

  // reply-from always passes the request; its type says it may not.
  function rewriteResponseHeaders (headers: IncomingHttpHeaders, request?: ProxiedRequest): IncomingHttpHeaders {
    // A new object with the headers that stay: deleting names from the parsed object instead costs V8 a change of its
    // layout on every response (most upstreams send Connection: keep-alive).
    // undici hands over a header the upstream sent twice as an array, whatever its type says: String() joins with ','.
    const connection: string | string[] | undefined = headers.connection
    const listed = connection === undefined ? undefined : String(connection).split(',').map(name => name.trim().toLowerCase())
    const kept: IncomingHttpHeaders = {}
    for (const name in headers) {
      // The gateway owns the CORS answer (plugins/csrf.ts set it on the reply already): an upstream's never counts.
      if (DROPPED_RESPONSE.has(name) || isUpstreamCorsHeader(name) || listed?.includes(name) === true) continue
      kept[name] = headers[name]
    }
    // The gateway owns its cookies (any name starting with COOKIE_NAME, and the nameless one that reads as such).
    // A lone Set-Cookie line comes as a string, several as an array (the type says array only).
    const setCookie: string | string[] | undefined = kept['set-cookie']
    if (setCookie !== undefined) kept['set-cookie'] = typeof setCookie === 'string' ? [setCookie].filter(keepUpstreamCookie) : setCookie.filter(keepUpstreamCookie)
    // The upstream's Vary replaces the reply's: keep the gateway's Origin in it.
    if (alwaysVaryOnOrigin || request?.headers.origin !== undefined) kept.vary = mergeVary(kept.vary as string | string[] | undefined, 'Origin')
    return kept
  }

  function onError (reply: ProxiedReply, { error }: { error: Error & { statusCode?: number } }): void {
    // An unread request body cannot be skipped on a kept-alive connection: close it after the answer.
    if (!reply.request.raw.complete) reply.header('connection', 'close')
    // The client's body stopped arriving (REQUEST_TIMEOUT, src/http/request-deadline.ts): its 408, not the upstream's
    // fault. reply-from wraps the body stream's error as the cause of its own.
    if (error.cause instanceof GatewayError) {
      sendError(reply as FastifyReply, error.cause)
      return
    }
    sendError(reply as FastifyReply, new GatewayError(error.statusCode === 504 ? 'upstream_timeout' : 'upstream_unavailable', { cause: error }))
  }

  const passThrough: OnResponse = (_request, reply, res) => {
    void reply.send((res as unknown as UpstreamResponse).stream)
  }

  /**
   * Undoes the copy of a refused answer's headers, but leaves the gateway's CORS headers and Vary (which holds Origin
   * when CORS applies, merged or the gateway's own) on the reply, for the retried answer or the error that follows.
   */
  function removeUpstreamHeaders (reply: ProxiedReply, res: UpstreamResponse): void {
    for (const name of Object.keys(res.headers)) if (name !== 'vary' && !isUpstreamCorsHeader(name)) reply.removeHeader(name)
  }

  /**
   * The upstream refused the token. Use the session's newer token if another request already refreshed it, else
   * force one refresh; then ask again once. The retry passes whatever it gets through, so this never loops.
   */
  async function retryWithFreshToken (request: ProxiedRequest, reply: ProxyReply, res: UpstreamResponse, prefix: string): Promise<void> {
    res.stream.resume()
    try {
      await fastify.refresher.renewRefused(request as FastifyRequest)
    } catch (err) {
      removeUpstreamHeaders(reply, res)
      if (isSessionOver(err)) {
        sendError(reply as FastifyReply, sessionExpired(request as FastifyRequest, reply as FastifyReply, err))
        return
      }
      reply.send(err)
      return
    }
    removeUpstreamHeaders(reply, res)
    const { url, options } = reply.fromParameters(request.url, request.params, prefix)
    reply.from(url, { ...options, onResponse: passThrough })
  }

  function register (upstream: UpstreamConfig): Promise<void> | FastifyInstance {
    const { prefix } = upstream
    const onResponse: OnResponse = (request, reply, raw) => {
      const res = raw as unknown as UpstreamResponse
      if (res.statusCode === 401 && (request.method === 'GET' || request.method === 'HEAD') &&
          INVALID_TOKEN.test(res.headers['www-authenticate'] ?? '')) {
        void retryWithFreshToken(request, reply as ProxyReply, res, prefix)
        return
      }
      void reply.send(res.stream)
    }

    return fastify.register(proxy, {
      prefix,
      upstream: upstream.origin,
      rewritePrefix: upstream.rewritePrefix,
      websocket: true,
      disableRequestLogging: true,
      // Bodies stream to the upstream: REQUEST_TIMEOUT bounds their pauses, not their length (plugins/connection-limits.ts).
      config: { streamedBody: true },
      undici: {
        headersTimeout: settings.timeoutMs,
        // Idle time between two body chunks (like nginx proxy_read_timeout): event streams need heartbeats.
        bodyTimeout: settings.timeoutMs,
        connect: { timeout: settings.timeoutMs }
      },
      replyOptions: {
        rewriteRequestHeaders,
        rewriteHeaders: rewriteResponseHeaders,
        onResponse,
        onError,
        // reply-from would otherwise retry a GET answered 503 up to ten times; upstream answers pass through.
        retryDelay: () => null
      },
      wsClientOptions: { rewriteRequestHeaders: webSocketHeaders } as Record<string, unknown>,
      // ws keeps the client's TCP socket as `_socket` (no public accessor): how the open tunnel finds its session.
      wsHooks: { onConnect: (_context, source) => { fastify.tunnels.open((source as unknown as { _socket: Socket })._socket, source) } }
    })
  }

  const byLength = [...settings.upstreams].sort((a, b) => b.prefix.length - a.prefix.length)
  for (const upstream of byLength) await register(upstream)
}
