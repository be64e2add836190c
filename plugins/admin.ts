import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { connectionsCheckingInterval } from '../server-options.js'
import { clientErrorHandler } from './error-handler.js'

declare module 'fastify' {
  interface FastifyInstance {
    adminServer: AdminServer
  }
}

export interface AdminServer {
  /** False with ADMIN_PORT=off. */
  readonly enabled: boolean
  /** Where the admin server listens, once it does (it starts when the main app listens). */
  address (): AddressInfo | null
  /**
   * Resolves once the admin server listens (after the main app's `listen()`), with its address; undefined with
   * ADMIN_PORT=off. Rejects when it cannot listen (the port is taken).
   */
  started (): Promise<AddressInfo | undefined>
  /** Adds routes to the admin server (e.g. the admin API, routes/admin-api.ts); registered before it listens. */
  addRoutes (routes: FastifyPluginAsync): void
}

/**
 * The admin server: a second, small Fastify instance on ADMIN_PORT (bound to HOST) serving GET /metrics in the
 * Prometheus text format, so the metrics are never public by accident on the main port. It starts when the main app
 * listens (an app that is only injected into never opens it) and closes with the main app.
 */
async function adminPlugin (fastify: FastifyInstance): Promise<void> {
  const { adminPort, host } = fastify.config.server
  const registry = fastify.metrics.registry
  let admin: FastifyInstance | undefined
  let resolveStarted: (address: AddressInfo | undefined) => void = () => {}
  let rejectStarted: (err: unknown) => void = () => {}
  const started = new Promise<AddressInfo | undefined>((resolve, reject) => {
    resolveStarted = resolve
    rejectStarted = reject
  })
  started.catch(() => { /* reported by the onListen hook; a caller of started() sees the rejection */ })
  const extraRoutes: FastifyPluginAsync[] = []

  fastify.decorate('adminServer', {
    enabled: adminPort !== undefined,
    address () {
      const address = admin?.server.address()
      return typeof address === 'object' && address !== null ? address : null
    },
    async started () { return await started },
    addRoutes (routes) { extraRoutes.push(routes) }
  })

  if (adminPort === undefined) {
    resolveStarted(undefined)
    return
  }

  fastify.addHook('onListen', async function startAdmin () {
    // HEADERS_TIMEOUT and REQUEST_TIMEOUT hold here too; nothing streams, so Node's own request deadline will do.
    const { headersTimeoutMs, requestTimeoutMs } = fastify.config.connections
    const server = Fastify({
      loggerInstance: fastify.log.child({ server: 'admin' }),
      requestTimeout: requestTimeoutMs,
      http: { headersTimeout: headersTimeoutMs, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: connectionsCheckingInterval(headersTimeoutMs) },
      clientErrorHandler
    })
    // Scrapes are frequent: request lines only at warn and above.
    server.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
      const text = await registry.metrics()
      return await reply.type(registry.contentType).header('cache-control', 'no-store').send(text)
    })
    for (const routes of extraRoutes) await server.register(routes)
    admin = server
    try {
      await server.listen({ host, port: adminPort })
    } catch (err) {
      admin = undefined
      fastify.log.error({ err, port: adminPort }, 'admin server (/metrics) cannot listen on ADMIN_PORT')
      rejectStarted(err)
      return
    }
    const address = server.server.address()
    /* c8 ignore next -- a TCP listen always has an AddressInfo */
    resolveStarted(typeof address === 'object' && address !== null ? address : undefined)
  })

  fastify.addHook('onClose', async () => {
    await admin?.close()
  })
}

export default fp(adminPlugin, { fastify: '5.x', name: 'bff-admin', dependencies: ['bff-config', 'bff-metrics'] })
