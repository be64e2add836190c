/**
 * Bounds on client connections (issue #15): MAX_CONNECTIONS open at most, and REQUEST_TIMEOUT on request bodies
 * (src/http/request-deadline.ts): a total bound on the gateway's own routes, an idle bound on routes whose config says
 * `streamedBody` (the proxy). HEADERS_TIMEOUT and KEEP_ALIVE_TIMEOUT are server options (server-options.ts).
 */
import { PassThrough } from 'node:stream'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { guardRequestBodies, hasBody, markStreamed, registerAbort } from '../src/http/request-deadline.js'
import { invalidRequestBody } from './error-handler.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route streams its request body on (the proxy): REQUEST_TIMEOUT bounds the body's pauses, not its length. */
    streamedBody?: boolean
  }
}

/** At most one log line a minute about refused connections, however many there are. */
const REFUSED_LOG_INTERVAL_MS = 60_000

async function connectionLimitsPlugin (fastify: FastifyInstance): Promise<void> {
  const { maxConnections, requestTimeoutMs } = fastify.config.connections
  const server = fastify.server
  // Past the cap Node closes each new connection as it is accepted ('drop'); the ones open are served as before.
  server.maxConnections = maxConnections
  let refused = 0
  let loggedAt = -Infinity
  server.on('drop', () => {
    refused++
    const now = performance.now()
    if (now - loggedAt < REFUSED_LOG_INTERVAL_MS) return
    fastify.log.warn({ event: 'connections_refused', maxConnections, refused }, 'MAX_CONNECTIONS reached: new connections are closed as they arrive')
    loggedAt = now
    refused = 0
  })

  guardRequestBodies(server, {
    timeoutMs: requestTimeoutMs,
    respond: res => {
      const body = invalidRequestBody(408, 'The request took too long to arrive')
      res.writeHead(408, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' })
      res.end(body)
    },
    onTimeout: (req, streamed) => {
      fastify.log.info({ event: 'request_timeout', method: req.method, url: (req.url ?? '').split('?', 1)[0], streamed, remoteAddress: req.socket.remoteAddress }, 'request body not received in time (REQUEST_TIMEOUT): connection closed')
    }
  })

  // The body reaches its parser (or the proxy) through a pass-through the deadline can fail, so that a timeout is
  // answered by Fastify's own error path: 408 in the error shape, Connection: close.
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const raw = request.raw
    if (request.routeOptions.config.streamedBody === true) markStreamed(raw)
    if (raw.complete || !hasBody(raw)) {
      done(null, payload)
      return
    }
    const body = new PassThrough()
    payload.pipe(body)
    // pipe() does not pass errors on: a client that resets mid-body must fail the read as it did without this stream.
    payload.once('error', err => body.destroy(err))
    registerAbort(raw, err => {
      payload.unpipe(body)
      body.destroy(err)
    })
    done(null, body)
  })
}

export default fp(connectionLimitsPlugin, { fastify: '5.x', name: 'bff-connection-limits', dependencies: ['bff-config'] })
