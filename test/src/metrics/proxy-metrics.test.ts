/**
 * The proxy path's own histogram and counter must read exactly like prom-client's: the same observations give the
 * same samples, in the Prometheus text format and in OpenMetrics.
 */
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client'
import t from 'tap'
import { createProxyMetrics } from '../../../src/metrics/proxy-metrics.js'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Values on, between, below and above the bounds; statuses of several classes; two upstreams. */
const OBSERVATIONS: Array<[string, number, number]> = [
  ['/api', 200, 0.001], ['/api', 204, 0.005], ['/api', 200, 0.0051], ['/api', 201, 0.25], ['/api', 200, 31],
  ['/api', 404, 0.02], ['/api', 503, 2.5], ['/api', 502, 0], ['/api/billing', 200, 0.07], ['/api/billing', 101, 1]
]

/** Sample lines as a sorted list of "name{sorted labels} value", so label order does not matter. */
function samples (text: string): string[] {
  return text.split('\n').filter(line => line !== '' && !line.startsWith('#')).map(line => {
    const match = /^([^{ ]+)(?:\{(.*)\})? (.+)$/.exec(line)
    if (match === null) throw new Error(`unexpected line ${line}`)
    const labels = (match[2] ?? '').split(',').filter(Boolean).sort().join(',')
    return `${match[1] ?? ''}{${labels}} ${Number(match[3])}`
  }).sort()
}

async function both (openMetrics = false): Promise<{ ours: string, theirs: string }> {
  const ourRegistry = new Registry<RegistryContentType>()
  const theirRegistry = new Registry<RegistryContentType>()
  if (openMetrics) for (const registry of [ourRegistry, theirRegistry]) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  const fast = createProxyMetrics({ registry: ourRegistry, buckets: BUCKETS })
  const counter = new Counter({ name: 'bff_proxy_requests_total', help: 'Requests forwarded to an upstream, by upstream prefix and status class of the answer', labelNames: ['upstream', 'status_class'], registers: [theirRegistry] })
  const histogram = new Histogram({ name: 'bff_proxy_request_duration_seconds', help: 'Forwarded requests until the answer was sent, by upstream prefix and status class', labelNames: ['upstream', 'status_class'], buckets: BUCKETS, registers: [theirRegistry] })
  for (const [upstream, status, seconds] of OBSERVATIONS) {
    fast.observe(upstream, status, seconds)
    const labels = { upstream, status_class: `${Math.floor(status / 100)}xx` }
    counter.inc(labels)
    histogram.observe(labels, seconds)
  }
  return { ours: await ourRegistry.metrics(), theirs: await theirRegistry.metrics() }
}

t.test('the same samples as prom-client\'s Counter and Histogram for the same observations', async t => {
  const { ours, theirs } = await both()
  t.same(samples(ours), samples(theirs))
  t.match(ours, /# TYPE bff_proxy_request_duration_seconds histogram/)
  t.match(ours, /# TYPE bff_proxy_requests_total counter/)
  t.match(ours, /bff_proxy_request_duration_seconds_bucket\{le="0.005",upstream="\/api",status_class="2xx"\} 2/, 'a value on a bound counts in that bucket')
  t.match(ours, /bff_proxy_request_duration_seconds_bucket\{le="\+Inf",upstream="\/api",status_class="2xx"\} 5/)
  t.match(ours, /bff_proxy_requests_total\{upstream="\/api\/billing",status_class="1xx"\} 1/)
})

t.test('the same in OpenMetrics', async t => {
  const { ours, theirs } = await both(true)
  t.same(samples(ours), samples(theirs))
  t.match(ours, /# EOF/)
})

t.test('nothing observed: the metrics are listed without samples', async t => {
  const registry = new Registry()
  createProxyMetrics({ registry, buckets: BUCKETS })
  const text = await registry.metrics()
  t.match(text, /# HELP bff_proxy_requests_total/)
  t.same(samples(text), [])
  t.same((await registry.getMetricsAsJSON()).map(metric => metric.name).sort(), ['bff_proxy_request_duration_seconds', 'bff_proxy_requests_total'])
})
