/**
 * The Fastify server's own options, derived from the configuration: logging (redaction paths, the request
 * serializer, the lazy request loggers and the one-line access log), request ids, trust proxy, body and connection
 * bounds. fastify.config.ts reads the environment; this turns what it read into `Fastify(options)`.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import proxyAddr from '@fastify/proxy-addr'
import type { ConfigBase } from './src/config-types.js'
import { lazyChildLoggerFactory } from './src/logging/lazy-child-logger.js'
import { AccessLogController } from './plugins/access-log-controller.js'

/**
 * Log paths that may carry secrets: a backstop, since nothing secret is passed to a log call on purpose (a test
 * captures a whole session's logs and finds none). Explicit paths only: wildcard paths made pino check every key of
 * every line, about 20 µs per request at info level in the benchmark.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'body.password',
  'body.client_secret',
  'body.refresh_token',
  'body.otp',
  'body.recovery_code',
  'body.binding_code'
]

/** Request lines log the path, never the query string (it may carry codes or tokens in some clients). */
function serializeRequest (request: { method: string, url: string, ip?: string, id?: string }): Record<string, unknown> {
  return { method: request.method, url: request.url.split('?', 1)[0], remoteAddress: request.ip }
}

export interface ServerOptions {
  logger: Record<string, unknown> | false
  childLoggerFactory?: typeof lazyChildLoggerFactory
  logController?: AccessLogController
  trustProxy: boolean | string[]
  bodyLimit: number
  connectionTimeout: number
  keepAliveTimeout: number
  requestTimeout: number
  http: { headersTimeout: number, requestTimeout: number, connectionsCheckingInterval: number }
  requestIdHeader: false
  genReqId: (req: IncomingMessage) => string
  ajv: { customOptions: Record<string, unknown> }
  routerOptions: { maxParamLength: number }
  forceCloseConnections: 'idle'
}

/** A request id a trusted proxy may hand us: short, printable, no separators that could split a log line or header. */
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/

/**
 * Request ids: the load balancer's `X-Request-Id` when the request comes from a TRUST_PROXY address (so one id
 * follows a request through the balancer, the gateway and the upstream), else one of ours.
 */
function requestIds (trustProxy: false | readonly string[]): (req: IncomingMessage) => string {
  let counter = 0
  const prefix = randomBytes(3).toString('hex')
  const generate = (): string => `req-${prefix}-${(++counter).toString(36)}`
  if (trustProxy === false) return generate
  const trusted = proxyAddr.compile([...trustProxy])
  return req => {
    const incoming = req.headers['x-request-id']
    const peer = req.socket?.remoteAddress
    return typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming) && peer !== undefined && trusted(peer, 0) ? incoming : generate()
  }
}

/** How often Node looks for connections past HEADERS_TIMEOUT: a tenth of it, from 10 ms to 1 s (Node's default is 30 s). */
export function connectionsCheckingInterval (headersTimeoutMs: number): number {
  return Math.min(1000, Math.max(10, Math.floor(headersTimeoutMs / 10)))
}

/** Fastify options derived from the configuration; tests pass a stream to capture the (redacted) logs. */
export function serverOptions (config: Pick<ConfigBase, 'server' | 'connections'>, logStream?: NodeJS.WritableStream): ServerOptions {
  const logging = config.server.logLevel !== 'silent' || logStream !== undefined
  return {
    logger: logging
      ? {
          level: config.server.logLevel,
          redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
          serializers: { req: serializeRequest },
          ...(logStream === undefined ? {} : { stream: logStream })
        }
      : false,
    // Request loggers become pino children only when something is logged (src/logging/lazy-child-logger.ts).
    // One access line per request instead of Fastify's two (plugins/access-log-controller.ts).
    ...(logging ? { childLoggerFactory: lazyChildLoggerFactory, logController: new AccessLogController() } : {}),
    trustProxy: config.server.trustProxy === false ? false : [...config.server.trustProxy],
    bodyLimit: 1024 * 1024,
    // No socket inactivity bound: a proxied call may wait UPSTREAM_TIMEOUT for its upstream without a byte either way.
    connectionTimeout: 0,
    keepAliveTimeout: config.connections.keepAliveTimeoutMs,
    // Node's requestTimeout would be one deadline for every route, proxied uploads included: bodies are bounded per
    // route instead (src/http/request-deadline.ts, plugins/connection-limits.ts). Headers are Node's (its sweep
    // visits every connection still receiving a request, whatever else is open: test/hostile/slow-client.test.ts).
    requestTimeout: 0,
    http: {
      headersTimeout: config.connections.headersTimeoutMs,
      requestTimeout: 0,
      connectionsCheckingInterval: connectionsCheckingInterval(config.connections.headersTimeoutMs)
    },
    requestIdHeader: false,
    genReqId: requestIds(config.server.trustProxy),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    routerOptions: { maxParamLength: 500 },
    forceCloseConnections: 'idle'
  }
}
