import Fastify, { type FastifyInstance } from 'fastify'
import type { AppConfig } from './src/config-types.js'
import { serverOptions } from './server-options.js'
import { systemClock, type Clock } from './src/clock.js'
import type { SessionStore } from './src/session/session-store.js'
import type { Timers } from './src/session/sweeper.js'
import { createMetrics, idpEndpointOf } from './src/metrics/metrics.js'
import adminPlugin from './plugins/admin.js'
import lifecyclePlugin from './plugins/lifecycle.js'
import metricsPlugin from './plugins/metrics.js'
import authPlugin from './plugins/auth.js'
import identifierHashPlugin from './plugins/identifier-hash.js'
import idpPlugin from './plugins/idp.js'
import configPlugin from './plugins/config.js'
import connectionLimitsPlugin from './plugins/connection-limits.js'
import csrfPlugin from './plugins/csrf.js'
import loginThrottlePlugin from './plugins/login-throttle.js'
import errorHandlerPlugin, { clientErrorHandler, frameworkErrors } from './plugins/error-handler.js'
import refreshPlugin from './plugins/refresh.js'
import mfaPlugin from './plugins/mfa.js'
import sessionCookiePlugin from './plugins/session-cookie.js'
import sessionLoaderPlugin from './plugins/session-loader.js'
import sessionsPlugin from './plugins/sessions.js'
import adminApiRoutes from './routes/admin-api.js'
import healthRoutes from './routes/health.js'
import apiProxyRoutes from './routes/api-proxy.js'
import { errorReply } from './routes/schemas.js'
import mfaRoutes from './routes/mfa.js'
import sessionRoutes from './routes/session.js'
import mySessionsRoutes from './routes/my-sessions.js'
import userinfoRoutes from './routes/userinfo.js'

/** Seams for tests and embedding: everything stateful or time-dependent can be injected. */
export interface AppDeps {
  clock?: Clock
  fetch?: typeof fetch
  sessionStore?: SessionStore
  /** The session sweeper's timers. */
  timers?: Timers
}

export interface BuildAppOptions {
  /** Resolved: `await resolveEndpoints(loadConfig(env))` (a LoadedConfig with OIDC_ISSUER's endpoints pending is refused by the compiler). */
  config: AppConfig
  deps?: AppDeps
  /** Where logs go (tests capture them); stdout by default. */
  logStream?: NodeJS.WritableStream
}

/** Builds the gateway (not listening). The one place that knows the plugin order. */
export function buildApp ({ config, deps = {}, logStream }: BuildAppOptions): FastifyInstance {
  const clock = deps.clock ?? systemClock
  const metrics = createMetrics()
  // Errors met before routing, and requests Node's parser refuses, get the one error shape too (issue #10).
  const app = Fastify({ ...serverOptions(config, logStream), frameworkErrors, clientErrorHandler })
  app.addSchema(errorReply)

  app.register(configPlugin, { config })
  app.register(errorHandlerPlugin)
  // Before any route: its preParsing hook must cover them all.
  app.register(connectionLimitsPlugin)
  app.register(csrfPlugin)
  app.register(sessionsPlugin, { clock, store: deps.sessionStore, timers: deps.timers })
  app.register(sessionCookiePlugin)
  app.register(identifierHashPlugin)
  // Every IdP call goes through this one instrumented fetch (bff_idp_request_duration_seconds).
  const idpFetch = metrics.instrumentFetch(deps.fetch ?? globalThis.fetch, idpEndpointOf(config.idp))
  app.register(idpPlugin, { clock, fetch: idpFetch })
  app.register(sessionLoaderPlugin)
  app.register(authPlugin)
  app.register(refreshPlugin, { clock })
  // Before any route: it hooks every route as it is registered.
  app.register(metricsPlugin, { metrics })
  app.register(loginThrottlePlugin, { clock })
  app.register(mfaPlugin, { clock })
  app.register(mfaRoutes)
  app.register(adminPlugin)
  app.register(adminApiRoutes)
  app.register(lifecyclePlugin)

  app.register(healthRoutes)
  app.register(sessionRoutes)
  app.register(mySessionsRoutes)
  app.register(userinfoRoutes, { clock, fetch: idpFetch })
  app.register(apiProxyRoutes)
  return app
}
