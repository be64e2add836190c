/**
 * One access-log line per request, at info, when the answer has gone out: `request completed` with the request
 * (method, path, client address), the status, the time taken and the request id. Fastify's default writes two lines
 * per request (`incoming request` and `request completed`), each through the request's own pino child; at the
 * production level that made the gateway about 0.67x the bare proxy in the bench's info round. Here `incoming request`
 * is a debug line, and the completion line is written by the app logger with the request id as a field, so the
 * request's lazy logger (src/logging/lazy-child-logger.ts) is not built for it. A route's own level still applies (the
 * probes log at warn: no access line). Failed requests and Fastify's other lines (stream errors, serializer errors,
 * ...) are logged as Fastify logs them. It extends Fastify's LogController, so it lives in plugins/, not src/.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

export class AccessLogController extends LogController {
  override incomingRequest (request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error !== null && error !== undefined) {
      super.requestCompleted(error, request, reply)
      return
    }
    if (!infoEnabled(request)) return
    request.server.log.info({ reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/** Whether the request's logger (its route's level included) writes info; a logger that cannot say is asked anyway. */
function infoEnabled (request: FastifyRequest): boolean {
  const logger = request.log as { isLevelEnabled?: (level: string) => boolean }
  return logger.isLevelEnabled?.('info') ?? true
}
