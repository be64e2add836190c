/**
 * The gateway's Prometheus metrics, on a Registry of their own (never prom-client's global one, so two apps in one
 * process do not collide). Framework-free: plugins/metrics.ts feeds it from Fastify's hooks, app.ts wraps the IdP
 * fetch with it, plugins/refresh.ts reports refresh outcomes.
 */
import { performance } from 'node:perf_hooks'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { createProxyMetrics } from './proxy-metrics.js'

export type RefreshOutcome = 'ok' | 'rate_limited' | 'invalid_grant' | 'transient'
/** Which IdP endpoint a call went to. */
export type IdpEndpoint = 'token' | 'revocation' | 'jwks' | 'userinfo' | 'discovery' | 'mfa' | 'other'

export interface GatewayMetrics {
  readonly registry: Registry
  /** POST /session answered: `ok` or the error code. */
  login (outcome: string): void
  /** An MFA route answered: the route and `ok` or the error code. */
  mfaStep (route: string, outcome: string): void
  refreshOutcome (outcome: RefreshOutcome): void
  idpRequest (endpoint: IdpEndpoint, statusClass: string, seconds: number): void
  /** A request forwarded to an upstream (by its prefix) was answered with this status after this long. */
  proxied (upstream: string, status: number, seconds: number): void
  storeError (): void
  /** Where the active-sessions gauge reads its value at scrape time; undefined = not known (not reported). */
  countSessionsWith (read: () => { store: string, count: number | undefined }): void
  /** Wraps a fetch so every IdP call is timed by endpoint and status class. */
  instrumentFetch (inner: typeof fetch, endpointOf: (url: string) => IdpEndpoint): typeof fetch
}

/** `2xx`, `4xx`, `5xx`… */
export function statusClass (status: number): string {
  return `${Math.floor(status / 100)}xx`
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export interface MetricsOptions {
  /** process_* and nodejs_* metrics (prom-client's collectDefaultMetrics). */
  readonly defaultMetrics?: boolean
}

export function createMetrics (options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry()
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const logins = new Counter({ name: 'bff_login_attempts_total', help: 'POST /session answers by outcome (ok or the error code)', labelNames: ['outcome'], registers })
  const mfa = new Counter({ name: 'bff_mfa_steps_total', help: 'MFA route answers by route and outcome (ok or the error code)', labelNames: ['route', 'outcome'], registers })
  const refreshes = new Counter({ name: 'bff_refresh_total', help: 'Token-endpoint refreshes by outcome: ok, rate_limited, invalid_grant, transient', labelNames: ['outcome'], registers })
  const idp = new Histogram({ name: 'bff_idp_request_duration_seconds', help: 'Calls to the IdP (token endpoint, revocation, JWKS, …) until the response headers, by endpoint and status class (error = no answer)', labelNames: ['endpoint', 'status_class'], buckets: LATENCY_BUCKETS, registers })
  // The per-request pair: prom-client's own label handling cost several µs per proxied request (see proxy-metrics.ts).
  const proxy = createProxyMetrics({ registry, buckets: LATENCY_BUCKETS })
  const storeErrors = new Counter({ name: 'bff_store_errors_total', help: 'Requests answered 503 store_unavailable (the session store did not answer)', registers })
  for (const outcome of ['ok', 'rate_limited', 'invalid_grant', 'transient']) refreshes.inc({ outcome }, 0)
  storeErrors.inc(0)

  let readSessions: () => { store: string, count: number | undefined } = () => ({ store: 'unknown', count: undefined })
  new Gauge({
    name: 'bff_active_sessions',
    help: 'Sessions in the store (the memory store\'s entries, expired ones included until they are next read; not reported for Redis)',
    labelNames: ['store'],
    registers,
    collect () {
      this.reset()
      const { store, count } = readSessions()
      if (count !== undefined) this.set({ store }, count)
    }
  })

  return {
    registry,
    login (outcome) { logins.inc({ outcome }) },
    mfaStep (route, outcome) { mfa.inc({ route, outcome }) },
    refreshOutcome (outcome) { refreshes.inc({ outcome }) },
    idpRequest (endpoint, status, seconds) { idp.observe({ endpoint, status_class: status }, seconds) },
    proxied (upstream, status, seconds) { proxy.observe(upstream, status, seconds) },
    storeError () { storeErrors.inc() },
    countSessionsWith (read) { readSessions = read },
    instrumentFetch (inner, endpointOf) {
      return async function instrumentedFetch (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
        const endpoint = endpointOf(url)
        const started = performance.now()
        try {
          const response = await inner(input, init)
          idp.observe({ endpoint, status_class: statusClass(response.status) }, (performance.now() - started) / 1000)
          return response
        } catch (err) {
          idp.observe({ endpoint, status_class: 'error' }, (performance.now() - started) / 1000)
          throw err
        }
      }
    }
  }
}

/** Names the IdP endpoint of a URL from the configured (or discovered) endpoints. */
export function idpEndpointOf (idp: { tokenUrl: string, revokeUrl: string, jwksUrl: string, userinfoUrl: string }): (url: string) => IdpEndpoint {
  const known = new Map<string, IdpEndpoint>([[idp.tokenUrl, 'token'], [idp.revokeUrl, 'revocation'], [idp.jwksUrl, 'jwks'], [idp.userinfoUrl, 'userinfo']])
  return url => {
    const bare = url.split('?', 1)[0] ?? url
    const found = known.get(bare)
    if (found !== undefined) return found
    if (bare.endsWith('/.well-known/openid-configuration')) return 'discovery'
    return /\/mfa\//.test(bare) ? 'mfa' : 'other'
  }
}
