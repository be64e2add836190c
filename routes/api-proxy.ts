import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import proxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { UpstreamConfig } from '../fastify.config.js'
import { sendError } from '../plugins/error-handler.js'
import { GatewayError } from '../src/errors.js'

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
 *   onRequest   verifyCsrf              foreign Origin → 403 origin_forbidden; unsafe method without X-CSRF → 403
 *   preHandler  requireAccessToken      no live session → 401 no_session, nothing forwarded; else
 *                                       request.accessToken, refreshed when due
 * The header rewrite is synchronous and only reads what the hooks prepared.
 */
export default async function apiProxyRoutes (fastify: FastifyInstance): Promise<void> {
  const { proxy: settings, cookie: cookieSettings, server } = fastify.config
  const sessionCookie = cookieSettings.name
  const forwardCookies = new Set(settings.forwardCookies.filter(name => name !== sessionCookie))
  const trustProxy = server.trustProxy !== false

  // Bodies stream through as they arrive: none of the app's parsers (nor their body limit) applies to proxied calls.
  fastify.removeAllContentTypeParsers()
  fastify.addHook('onRequest', fastify.verifyCsrf)
  fastify.addHook('preHandler', fastify.requireAccessToken)

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

  /** Request headers about the client's hop to us (RFC 9110 §7.6.1, and proxy credentials), never forwarded. */
  const HOP_BY_HOP_REQUEST = ['forwarded', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect'] as const

  function rewriteRequestHeaders (request: ProxiedRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
    // reply-from passes a copy of the client's headers without Connection and the names it lists. Unset values are
    // skipped by the HTTP client; assigning undefined is cheaper than delete on this path, and a name the client did
    // not send is left alone (adding it, even as undefined, would only make the object bigger for every later step).
    // `expect`: Node has already answered 100-continue to the client; the body follows as a stream.
    for (const name of HOP_BY_HOP_REQUEST) if (headers[name] !== undefined) headers[name] = undefined
    headers.authorization = `Bearer ${request.accessToken}`
    if (headers.cookie !== undefined) headers.cookie = keptCookies(headers.cookie)
    headers['x-forwarded-for'] = forwardedFor(request)
    headers['x-forwarded-proto'] = request.protocol
    headers['x-forwarded-host'] = request.host
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
      'x-forwarded-proto': request.protocol,
      'x-forwarded-host': request.host,
      'x-request-id': request.id
    }
    const cookie = keptCookies(request.headers.cookie)
    if (cookie !== undefined) headers.cookie = cookie
    return headers
  }

  /** Response headers that describe the upstream connection, not ours (RFC 9110 §7.6.1), or that the gateway owns. */
  const DROPPED_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'trailer', 'upgrade', 'access-control-allow-origin', 'access-control-allow-credentials'])

  function rewriteResponseHeaders (headers: IncomingHttpHeaders): IncomingHttpHeaders {
    // A new object with the headers that stay: deleting names from the parsed object instead costs V8 a change of its
    // layout on every response (most upstreams send Connection: keep-alive).
    const listed = headers.connection === undefined ? undefined : headers.connection.split(',').map(name => name.trim().toLowerCase())
    const kept: IncomingHttpHeaders = {}
    for (const name in headers) {
      if (DROPPED_RESPONSE.has(name) || listed?.includes(name) === true) continue
      kept[name] = headers[name]
    }
    // The gateway owns the session cookie and the CORS answer; an upstream can set neither.
    const setCookie = kept['set-cookie']
    if (setCookie !== undefined) kept['set-cookie'] = setCookie.filter(line => line.slice(0, line.indexOf('=')).trim() !== sessionCookie)
    return kept
  }

  function onError (reply: ProxiedReply, { error }: { error: Error & { statusCode?: number } }): void {
    // An unread request body cannot be skipped on a kept-alive connection: close it after the answer.
    if (!reply.request.raw.complete) reply.header('connection', 'close')
    sendError(reply as FastifyReply, new GatewayError(error.statusCode === 504 ? 'upstream_timeout' : 'upstream_unavailable', { cause: error }))
  }

  const passThrough: OnResponse = (_request, reply, res) => {
    void reply.send((res as unknown as UpstreamResponse).stream)
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
      for (const name of Object.keys(res.headers)) reply.removeHeader(name)
      if (err instanceof GatewayError && (err.code === 'session_expired' || err.code === 'no_session')) {
        request.session = null
        reply.clearSessionCookie()
        sendError(reply as FastifyReply, new GatewayError('session_expired', { cause: err }))
        return
      }
      reply.send(err)
      return
    }
    for (const name of Object.keys(res.headers)) reply.removeHeader(name)
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
