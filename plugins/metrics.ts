import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { statusClass, type GatewayMetrics } from '../src/metrics/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's Prometheus metrics (served on the admin port by plugins/admin.ts). */
    metrics: GatewayMetrics
  }
}

export interface MetricsPluginOptions {
  /** Created in buildApp, which also wraps the IdP fetch with it. */
  metrics: GatewayMetrics
}

/** A store that can say how many sessions it holds (the memory store). */
function sizeOf (store: unknown): number | undefined {
  if (typeof store !== 'object' || store === null || !('size' in store)) return undefined
  return typeof store.size === 'number' ? store.size : undefined
}

/**
 * Feeds the metrics from one onResponse hook, without touching the route plugins: the route that answered
 * (`request.routeOptions.url`), the method, the status and `reply.errorCode` (set by the error handler) say what
 * happened. Logins are POST /session, MFA steps any /session/mfa* route, proxied requests any route under an
 * upstream prefix that got as far as an access token.
 */
async function metricsPlugin (fastify: FastifyInstance, opts: MetricsPluginOptions): Promise<void> {
  const { metrics } = opts
  const prefixes = fastify.config.proxy.upstreams.map(upstream => upstream.prefix).sort((a, b) => b.length - a.length)
  const upstreamOfRoute = new Map<string, string | null>()
  fastify.decorate('metrics', metrics)

  function upstreamOf (route: string): string | null {
    let upstream = upstreamOfRoute.get(route)
    if (upstream === undefined) {
      upstream = prefixes.find(prefix => route === prefix || route.startsWith(`${prefix}/`)) ?? null
      upstreamOfRoute.set(route, upstream)
    }
    return upstream
  }

  const store = fastify.sessionStore
  const kind = fastify.config.store.kind
  metrics.countSessionsWith(() => ({ store: kind, count: sizeOf(store) }))

  fastify.addHook('onResponse', function recordMetrics (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    const code = reply.errorCode
    if (code === 'store_unavailable') metrics.storeError()
    const route = request.routeOptions.url
    if (route !== undefined) {
      const outcome = reply.statusCode < 400 ? 'ok' : code ?? `http_${reply.statusCode}`
      if (route === '/session' && request.method === 'POST') {
        metrics.login(outcome)
      } else if (route.startsWith('/session/mfa')) {
        metrics.mfaStep(route, outcome)
      } else if (request.accessToken !== '') {
        const upstream = upstreamOf(route)
        if (upstream !== null) metrics.proxied(upstream, statusClass(reply.statusCode), reply.elapsedTime / 1000)
      }
    }
    done()
  })
}

export default fp(metricsPlugin, {
  fastify: '5.x',
  name: 'bff-metrics',
  dependencies: ['bff-config', 'bff-error-handler', 'bff-sessions', 'bff-refresh']
})
