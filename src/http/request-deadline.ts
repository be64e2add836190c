/**
 * How long a client may take to send a request body (issue #15). Node bounds the headers (`headersTimeout`), but
 * its `requestTimeout` is one deadline for the whole request on every route, which would cut a long proxied upload
 * that keeps moving. So the gateway leaves Node's at 0 and bounds bodies here, per request:
 *   - a body read whole by the gateway's own routes (POST /session…) must have arrived within `timeoutMs` of its
 *     headers (a total bound);
 *   - a body streamed to an upstream (markStreamed) may take as long as it likes, but no gap of `timeoutMs` without a
 *     byte, unless the gateway itself is not reading (the upstream is slower than the client: backpressure).
 * A request that runs out gets `408` where a response can still be written, then its connection is closed; after a
 * response (an early 401 or 403 with the body still coming) the connection is just closed. Not Fastify-specific:
 * plugins/connection-limits.ts wires it to the server.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { GatewayError } from '../errors.js'

export interface RequestDeadlineOptions {
  /** REQUEST_TIMEOUT, ms: the total bound for bodies read whole, the idle bound for streamed ones. */
  readonly timeoutMs: number
  /** Answers a timed-out request whose response has not started and whose body nobody reads (registerAbort). */
  readonly respond: (res: ServerResponse) => void
  /** Told about every timeout (for a log line). */
  readonly onTimeout?: (req: IncomingMessage, streamed: boolean) => void
}

const kStreamed = Symbol('bff.requestDeadline.streamed')
const kAbort = Symbol('bff.requestDeadline.abort')

interface Watched extends IncomingMessage {
  [kStreamed]?: boolean
  [kAbort]?: (err: Error) => void
}

/** Per HTTP/1.1 framing: a request has a body only with Transfer-Encoding or a non-zero Content-Length. */
export function hasBody (req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** This request's body streams through (the proxy): an idle bound instead of a total one. */
export function markStreamed (req: IncomingMessage): void {
  (req as Watched)[kStreamed] = true
}

/**
 * Whoever reads the body registers how to fail that read; on a timeout it is called (instead of `respond`) so the
 * reader's own error path answers, e.g. Fastify's body parser → the error handler → 408 in the error shape.
 */
export function registerAbort (req: IncomingMessage, abort: (err: Error) => void): void {
  (req as Watched)[kAbort] = abort
}

/** The error a timed-out body read fails with: `408 invalid_request`, like Node's own request timeouts. */
function requestTimeoutError (streamed: boolean): GatewayError {
  const message = streamed ? 'The request body stopped arriving' : 'The request body took too long to arrive'
  return new GatewayError('invalid_request', { statusCode: 408, message })
}

/** Checks a few times per bound, so a timeout lands within a quarter of the bound after it is due. */
const CHECKS_PER_BOUND = 4

/** Watches every request with a body that has not fully arrived when its headers have. */
export function guardRequestBodies (server: Server, options: RequestDeadlineOptions): void {
  const now = (): number => performance.now()
  const every = Math.max(10, Math.floor(options.timeoutMs / CHECKS_PER_BOUND))

  server.on('request', (req: Watched, res: ServerResponse) => {
    if (req.complete || !hasBody(req)) return
    const socket = req.socket
    const startedAt = now()
    let progressAt = startedAt
    let bytesRead = socket.bytesRead

    const stop = (): void => {
      clearTimeout(timer)
      res.off('close', onResponseClosed)
    }
    // The response may end before the body (an early 401): keep watching until the body is in or the socket gone.
    const onResponseClosed = (): void => {
      if (req.complete || socket.destroyed) stop()
    }
    const check = (): void => {
      if (req.complete || socket.destroyed) {
        stop()
        return
      }
      const at = now()
      const streamed = req[kStreamed] === true
      if (streamed && (socket.bytesRead !== bytesRead || req.readableLength > 0)) {
        // Bytes arrived since the last check, or the gateway has not yet read what did: the client is not idle.
        bytesRead = socket.bytesRead
        progressAt = at
      }
      if (at - (streamed ? progressAt : startedAt) < options.timeoutMs) {
        timer.refresh()
        return
      }
      stop()
      options.onTimeout?.(req, streamed)
      const abort = req[kAbort]
      if (res.headersSent || res.writableEnded) socket.destroy()
      else if (abort !== undefined) abort(requestTimeoutError(streamed))
      else options.respond(res)
    }
    const timer = setTimeout(check, every)
    res.on('close', onResponseClosed)
  })
}
