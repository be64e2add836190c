import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { GatewayMetrics } from '../src/metrics/metrics.js'

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
 * Feeds the metrics without touching the route plugins: as each route is registered, it gets one onResponse hook
 * made for what the route is (a login, an MFA step, a route under an upstream prefix, anything else), so nothing is
 * worked out per request. The status, `reply.errorCode` (set by the error handler) and the elapsed time say what
 * happened. Logins are POST /session, MFA steps any /session/mfa* route, proxied requests any route under an
 * upstream prefix that got as far as an access token; every route counts store_unavailable answers.
 */
async function metricsPlugin (fastify: FastifyInstance, opts: MetricsPluginOptions): Promise<void> {
  const { metrics } = opts
  const prefixes = fastify.config.proxy.upstreams.map(upstream => upstream.prefix).sort((a, b) => b.length - a.length)
  fastify.decorate('metrics', metrics)

  const store = fastify.sessionStore
  const kind = fastify.config.store.kind
  metrics.countSessionsWith(() => ({ store: kind, count: sizeOf(store) }))

  const outcomeOf = (reply: FastifyReply): string => reply.statusCode < 400 ? 'ok' : reply.errorCode ?? `http_${reply.statusCode}`

  /** The onResponse hook for a route: what is recorded depends only on the route, so it is chosen once. */
  function recorderFor (url: string, methods: readonly string[]): (request: FastifyRequest, reply: FastifyReply) => void {
    if (url === '/session' && methods.includes('POST')) {
      return (request, reply) => { if (request.method === 'POST') metrics.login(outcomeOf(reply)) }
    }
    if (url.startsWith('/session/mfa')) return (_request, reply) => { metrics.mfaStep(url, outcomeOf(reply)) }
    const upstream = prefixes.find(prefix => url === prefix || url.startsWith(`${prefix}/`))
    if (upstream === undefined) return () => {}
    return (request, reply) => {
      if (request.accessToken !== '') metrics.proxied(upstream, reply.statusCode, reply.elapsedTime / 1000)
    }
  }

  fastify.addHook('onRoute', route => {
    const record = recorderFor(route.url, [route.method].flat())
    const hook = function recordMetrics (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      if (reply.errorCode === 'store_unavailable') metrics.storeError()
      record(request, reply)
      done()
    }
    route.onResponse = route.onResponse === undefined ? [hook] : [route.onResponse, hook].flat()
  })
}

export default fp(metricsPlugin, {
  fastify: '5.x',
  name: 'bff-metrics',
  dependencies: ['bff-config', 'bff-error-handler', 'bff-sessions', 'bff-refresh']
})
