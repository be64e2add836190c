import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { GatewayError, type ErrorCode } from '../src/errors.js'

/** The one JSON shape of every error the gateway answers with. */
export interface ErrorBody {
  statusCode: number
  code: ErrorCode
  error: string
  message: string
}

export function sendError (reply: FastifyReply, err: GatewayError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter))
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
 * Every error leaves as { statusCode, code, error, message }. Known errors keep their status; anything unexpected is
 * logged with its stack and answered with a generic 500, so no stack trace or internal message reaches a client.
 */
async function errorHandlerPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler(function (err: FastifyError, request, reply) {
    if (err instanceof GatewayError) {
      if (err.statusCode >= 500) request.log.warn({ code: err.code, cause: err.cause }, err.message)
      return sendError(reply, err)
    }
    const known = fromFastifyError(err)
    if (known !== undefined) return sendError(reply, known)
    request.log.error({ err }, 'unexpected error')
    return sendError(reply, new GatewayError('internal_error'))
  })

  fastify.setNotFoundHandler(function (request, reply) {
    return sendError(reply, new GatewayError('not_found', { message: `No route for ${request.method} ${request.url.split('?', 1)[0] ?? ''}` }))
  })
}

export default fp(errorHandlerPlugin, { fastify: '5.x', name: 'bff-error-handler' })
