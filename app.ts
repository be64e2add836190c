import Fastify, { type FastifyInstance } from 'fastify'
import { serverOptions, type AppConfig } from './fastify.config.js'
import { systemClock, type Clock } from './src/clock.js'
import type { SessionStore } from './src/session/session-store.js'
import authPlugin from './plugins/auth.js'
import configPlugin from './plugins/config.js'
import csrfPlugin from './plugins/csrf.js'
import errorHandlerPlugin from './plugins/error-handler.js'
import refreshPlugin from './plugins/refresh.js'
import sessionCookiePlugin from './plugins/session-cookie.js'
import sessionsPlugin from './plugins/sessions.js'
import healthRoutes from './routes/health.js'
import apiProxyRoutes from './routes/api-proxy.js'
import { errorReply } from './routes/schemas.js'
import sessionRoutes from './routes/session.js'

/** Seams for tests and embedding: everything stateful or time-dependent can be injected. */
export interface AppDeps {
  clock?: Clock
  fetch?: typeof fetch
  sessionStore?: SessionStore
}

export interface BuildAppOptions {
  config: AppConfig
  deps?: AppDeps
  /** Where logs go (tests capture them); stdout by default. */
  logStream?: NodeJS.WritableStream
}

/** Builds the gateway (not listening). The one place that knows the plugin order. */
export function buildApp ({ config, deps = {}, logStream }: BuildAppOptions): FastifyInstance {
  const clock = deps.clock ?? systemClock
  const app = Fastify(serverOptions(config, logStream))
  app.addSchema(errorReply)

  app.register(configPlugin, { config })
  app.register(errorHandlerPlugin)
  app.register(csrfPlugin)
  app.register(sessionsPlugin, { clock, store: deps.sessionStore })
  app.register(sessionCookiePlugin)
  app.register(authPlugin, { clock, fetch: deps.fetch })
  app.register(refreshPlugin, { clock })

  app.register(healthRoutes)
  app.register(sessionRoutes)
  app.register(apiProxyRoutes)
  return app
}
