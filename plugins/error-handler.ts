import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError, type ErrorCode } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyReply {
    /** The `code` of the error this reply carries (null for a success): what metrics and logs key outcomes on. */
    errorCode: ErrorCode | null
  }
}

/** The one JSON shape of every error the gateway answers with. */
export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
}

export function sendError (reply: FastifyReply, err: GatewayError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
  reply.errorCode = err.code
  const body: ErrorBody = { statusCode: err.statusCode, code: err.code, error: STATUS_CODES[err.statusCode] ?? 'Error', message: err.message }
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(body)
}

/** Fastify's own client errors, by their code, to ours. */
function fromFastifyError (err: FastifyError): GatewayError | undefined {
  if (err.validation !== undefined) return new GatewayError('invalid_request', { message: err.message })
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new GatewayError('payload_too_large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new GatewayError('unsupported_media_type', { message: 'Send application/json or application/x-www-form-urlencoded' })
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_body', { message: err.message })
  }
  if (err instanceof SyntaxError) return new GatewayError('invalid_body')
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new GatewayError('invalid_request', { statusCode: err.statusCode, message: err.message })
  }
  return undefined
}

/**
 * Server option `frameworkErrors`: errors Fastify meets before routing (a URL with a broken %-escape, FST_ERR_BAD_URL;
 * an over-long path parameter) get the same shape as every other error instead of Fastify's own (issue #10).
 * The message does not echo the URL (it may hold tokens in a query string).
 */
export function frameworkErrors (err: FastifyError, _request: unknown, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_BAD_URL' ? 'The URL is not valid (a malformed %-escape)' : 'The request is invalid'
  sendError(reply, new GatewayError('invalid_request', { message }))
}

/** The JSON text of an `invalid_request` error with this status, for answers written outside Fastify's reply. */
export function invalidRequestBody (statusCode: number, message: string): string {
  return JSON.stringify({ statusCode, code: 'invalid_request', error: STATUS_CODES[statusCode] ?? 'Error', message } satisfies ErrorBody)
}

/**
 * Server option `clientErrorHandler`: requests Node's HTTP parser refuses (CR/LF or NUL in a header, headers over
 * the size limit, an unknown method, a malformed request line) are answered on the raw socket in the same error
 * shape (400, 431 or 408 `invalid_request`), then the connection is closed (issue #10).
 */
export function clientErrorHandler (err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const statusCode = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const message = statusCode === 431 ? 'The request headers are too large' : statusCode === 408 ? 'The request took too long to arrive' : 'The request is not valid HTTP'
  const body = invalidRequestBody(statusCode, message)
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`)
}

/**
 * The one error handler, of the main app and of the admin API: every error leaves as { statusCode, code, error,
 * message }. Known errors keep their status; anything unexpected is logged with its stack and answered with a generic
 * 500, so no stack trace or internal message reaches a client.
 */
export function handleError (err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof GatewayError) {
    if (err.statusCode >= 500) request.log.warn({ code: err.code, cause: err.cause }, err.message)
    return sendError(reply, err)
  }
  const known = fromFastifyError(err)
  if (known !== undefined) return sendError(reply, known)
  request.log.error({ err }, 'unexpected error')
  return sendError(reply, new GatewayError('internal_error'))
}

/**
 * True for a refresh's way of saying the session cannot go on: `session_expired` (the IdP refused it, or nothing can
 * renew its token) or `no_session` (it ended meanwhile).
 */
export function isSessionOver (err: unknown): err is GatewayError {
  return err instanceof GatewayError && (err.code === 'session_expired' || err.code === 'no_session')
}

/**
 * The request's session is over (isSessionOver): it is forgotten on the request and its cookie cleared, and the
 * answer is the 401 session_expired this returns. Ending it in the store, where it may still be, is the caller's
 * part (with the reason only the caller knows).
 */
export function sessionExpired (request: FastifyRequest, reply: FastifyReply, cause: unknown): GatewayError {
  request.gatewaySession = null
  reply.clearSessionCookie()
  return new GatewayError('session_expired', { cause })
}

async function errorHandlerPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorateReply('errorCode', null)
  fastify.setErrorHandler(handleError)

  fastify.setNotFoundHandler(function (request, reply) {
    return sendError(reply, new GatewayError('not_found', { message: `No route for ${request.method} ${request.url.split('?', 1)[0] ?? ''}` }))
  })
}

export default fp(errorHandlerPlugin, { fastify: '5.x', name: 'bff-error-handler' })
