import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'

/**
 * One access-log line per request, at info, when the answer has gone out: `request completed` with the request
 * (method, path, client address), the status and the time taken, and the request id like every request line. Fastify's
 * own request logging (disabled in fastify.config.ts) writes two lines per request, `incoming request` and `request
 * completed`; at the production level that was a large share of the gateway's cost per proxied request. The
 * `incoming request` line is still there at debug.
 *
 * The line goes through the app logger with the request id as a field, so the request's own logger (lazy, see
 * src/logging/lazy-child-logger.ts) is not built just for it. A route's own log level still applies (the probes log
 * at warn, so they write no access line). A hook is only added when LOG_LEVEL lets its line through, so at warn the
 * proxy path carries neither.
 */
/** Whether the request's logger (its route's level included) writes info; a logger that cannot say is asked anyway. */
function infoEnabled (request: FastifyRequest): boolean {
  const logger = request.log as { isLevelEnabled?: (level: string) => boolean }
  return logger.isLevelEnabled?.('info') ?? true
}

/** The levels, least to most verbose: a hook is only added when LOG_LEVEL could write its line. */
const VERBOSITY = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']

async function accessLogPlugin (fastify: FastifyInstance): Promise<void> {
  const log = fastify.log
  const verbosity = VERBOSITY.indexOf(fastify.config.server.logLevel)
  if (verbosity >= VERBOSITY.indexOf('debug')) {
    fastify.addHook('onRequest', function logIncoming (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
      request.log.debug({ req: request }, 'incoming request')
      done()
    })
  }
  if (verbosity >= VERBOSITY.indexOf('info')) {
    fastify.addHook('onResponse', function logCompleted (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      if (infoEnabled(request)) log.info({ reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
      done()
    })
  }
}

export default fp(accessLogPlugin, { fastify: '5.x', name: 'bff-access-log', dependencies: ['bff-config'] })
