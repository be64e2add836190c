/**
 * `npm run soak [-- --duration 2m --users 24 --ttl 8 --faults on]`: a bounded soak of the gateway (issue #10).
 *
 * The gateway runs as its own child process (this file with SOAK_ROLE=gateway: buildApp from the environment, memory store,
 * `--expose-gc`), the echo upstream as another (bench/servers/echo.ts), the local IdP in this process with short
 * access tokens (default 8 s) and strict refresh-token rotation (no reuse interval). Virtual users loop: sometimes a
 * bad login, a login, a run of API calls (GET and POST through /api), session reads, then usually a logout. Every
 * 15 s one IdP fault is injected (a 503 at the next password login or the next refresh). Everything is on 127.0.0.1
 * and stops by itself.
 *
 * Reported: requests and errors by status and code, latency, sessions and refreshes per session (seen by the clients
 * as a new access_token_expires_at, and counted at the IdP), and the gateway's heap and RSS over time (sampled after
 * a forced GC in the child). Pass criteria (exit code 1 when one fails):
 *   - zero 5xx not caused by an injected fault (an idp_unavailable within 5 s of an injection counts as caused);
 *   - zero sessions lost (a live session answered 401);
 *   - zero refresh-token reuse detections at the IdP;
 *   - memory flat after warm-up (the first third): the mean heap of the last third within 10% (+1 MB) of the middle
 *     third's, and the least-squares slope of the heap over the last two thirds under 1 MB/min.
 */
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from '../app.js'
import { loadConfig } from '../fastify.config.js'
import { resolveEndpoints } from '../src/oidc/discovery.js'
import { startIdp } from '../idp/app.js'
import { parseDuration } from '../src/duration.js'
import { announceReady, serveParent, spawnChild, usageNow, type Usage } from '../bench/lib/ipc.js'

const CLIENT_ID = 'demo-gateway'
const CLIENT_SECRET = 'demo-gateway-secret-0123456789abcdefghijklmnop'
const COOKIE = '__Host-bff-session'
const USERS = [
  { username: 'alice@example.com', password: 'alice-password-1' },
  { username: 'bob@corp.example', password: 'bob-password-1', realm: 'employees' }
]
const INJECT_EVERY_MS = 15_000
const INJECTED_WINDOW_MS = 5_000
const SAMPLE_EVERY_MS = 2_000

// ---- child: the gateway ----------------------------------------------------------------------------------------

if (process.env.SOAK_ROLE === 'gateway') {
  const app = buildApp({ config: await resolveEndpoints(loadConfig(process.env)) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('soak gateway: unexpected address')
  announceReady(address.port)
  serveParent(async () => { await app.close() }, {
    gc () {
      globalThis.gc?.()
      return usageNow()
    }
  })
} else {
  await main()
}

// ---- parent ----------------------------------------------------------------------------------------------------

interface Options { durationMs: number, users: number, ttlSec: number, faults: boolean }

function parseArgs (argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    const inline = argv.find(a => a.startsWith(`--${name}=`))
    return inline !== undefined ? inline.slice(name.length + 3) : i >= 0 ? argv[i + 1] : undefined
  }
  const durationMs = parseDuration(value('duration') ?? '5m')
  if (durationMs === undefined || durationMs < 10_000) throw new Error('--duration: expected e.g. 30s, 2m, 5m (at least 10s)')
  const users = Number(value('users') ?? '24')
  const ttlSec = Number(value('ttl') ?? '8')
  if (!Number.isInteger(users) || users < 1 || users > 500) throw new Error('--users: 1-500')
  if (!Number.isInteger(ttlSec) || ttlSec < 4) throw new Error('--ttl: access token lifetime in seconds, at least 4')
  return { durationMs, users, ttlSec, faults: (value('faults') ?? 'on') !== 'off' }
}

interface Stats {
  requests: number
  byOutcome: Map<string, number>
  unexpected5xx: Map<string, number>
  injected5xx: number
  latencies: number[]
  sessions: number
  logouts: number
  lost: Array<{ at: number, code: string }>
  refreshesSeen: number[]
  badLogins: number
}

async function main (): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const deadline = started + options.durationMs
  const idp = await startIdp({ host: '127.0.0.1', port: 0, accessTokenTtlSec: options.ttlSec, refreshToken: { leewaySec: 0 } })
  const script = fileURLToPath(import.meta.url)
  const echo = await spawnChild('echo', fileURLToPath(new URL('../bench/servers/echo.ts', import.meta.url)), { stdout: 'ignore' })
  const gatewayEnv = {
    AUTH0_DOMAIN: idp.url,
    AUTH0_CLIENT_ID: CLIENT_ID,
    AUTH0_CLIENT_SECRET: CLIENT_SECRET,
    AUTH0_REALMS: 'employees',
    SESSION_SECRET: 'soak-session-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    UPSTREAMS: `/api=http://127.0.0.1:${echo.port}`,
    LOG_LEVEL: 'warn',
    ADMIN_PORT: 'off',
    REFRESH_MIN_INTERVAL: '1s',
    LOGIN_RATE_LIMIT_IP: 'off',
    LOGIN_RATE_LIMIT_IP_USER: 'off',
    LOGIN_RATE_LIMIT_USER: 'off'
  }
  // The child is this file again, told its role by the environment.
  const gateway = await spawnChild('gateway', script, { env: { ...gatewayEnv, SOAK_ROLE: 'gateway' }, nodeArgs: ['--expose-gc'], stdout: 'ignore' })
  const base = `http://127.0.0.1:${gateway.port}`
  process.stdout.write(`soak: ${options.users} users for ${Math.round(options.durationMs / 1000)} s, access tokens ${options.ttlSec} s, faults ${options.faults ? 'on' : 'off'}; gateway pid ${String(gateway.process.pid)} on ${base}\n`)

  const stats: Stats = { requests: 0, byOutcome: new Map(), unexpected5xx: new Map(), injected5xx: 0, latencies: [], sessions: 0, logouts: 0, lost: [], refreshesSeen: [], badLogins: 0 }
  const injections: number[] = []
  const samples: Array<{ t: number, usage: Usage }> = []
  const count = (map: Map<string, number>, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1) }

  async function request (method: string, path: string, init: { cookie?: string, body?: unknown } = {}): Promise<{ status: number, code: string, json: Record<string, unknown>, setCookie: string | null }> {
    const headers: Record<string, string> = { 'x-csrf': '1' }
    if (init.cookie !== undefined) headers.cookie = `${COOKIE}=${init.cookie}`
    if (init.body !== undefined) headers['content-type'] = 'application/json'
    const t0 = performance.now()
    let status = 0
    let json: Record<string, unknown> = {}
    let setCookie: string | null = null
    try {
      const res = await fetch(`${base}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) })
      status = res.status
      setCookie = res.headers.get('set-cookie')
      const text = await res.text()
      try { json = text === '' ? {} : JSON.parse(text) as Record<string, unknown> } catch {}
    } catch {
      status = 599
    }
    stats.latencies.push(performance.now() - t0)
    stats.requests++
    const code = typeof json.code === 'string' ? json.code : status === 599 ? 'network_error' : ''
    count(stats.byOutcome, `${status}${code === '' ? '' : ` ${code}`}`)
    if (status >= 500) {
      const now = Date.now()
      if (code === 'idp_unavailable' && injections.some(at => now >= at && now - at <= INJECTED_WINDOW_MS)) stats.injected5xx++
      else count(stats.unexpected5xx, `${method} ${path.split('?')[0] ?? ''} ${status} ${code}`)
    }
    return { status, code, json, setCookie }
  }

  function cookieOf (setCookie: string | null): string | undefined {
    const match = new RegExp(`${COOKIE}=([^;]*)`).exec(setCookie ?? '')
    return match?.[1] === undefined || match[1] === '' ? undefined : decodeURIComponent(match[1])
  }

  const random = (n: number): number => Math.floor(Math.random() * n)

  async function user (index: number): Promise<void> {
    while (Date.now() < deadline) {
      if (random(10) === 0) {
        const bad = await request('POST', '/session', { body: { username: `nobody-${index}-${random(1e6)}@example.com`, password: 'not-a-password-123' } })
        stats.badLogins++
        if (bad.status !== 401) count(stats.unexpected5xx, `bad login answered ${bad.status} ${bad.code}`)
      }
      const credentials = USERS[index % USERS.length] ?? USERS[0]
      const loggedIn = await request('POST', '/session', { body: credentials })
      const cookie = cookieOf(loggedIn.setCookie)
      if (loggedIn.status !== 200 || cookie === undefined) {
        await sleep(200)
        continue
      }
      stats.sessions++
      let expiresAt = String(loggedIn.json.access_token_expires_at)
      let refreshes = 0
      let alive = true
      const actions = 20 + random(80)
      for (let i = 0; i < actions && alive && Date.now() < deadline; i++) {
        const roll = random(10)
        const res = roll < 6
          ? await request('GET', `/api/orders/${random(1000)}`, { cookie })
          : roll < 8
            ? await request('POST', '/api/orders', { cookie, body: { item: random(100), note: 'soak' } })
            : await request('GET', '/session', { cookie })
        if (res.status === 401) {
          stats.lost.push({ at: Date.now() - started, code: res.code })
          alive = false
        }
        if (roll >= 8 && res.status === 200 && String(res.json.access_token_expires_at) !== expiresAt) {
          expiresAt = String(res.json.access_token_expires_at)
          refreshes++
        }
        await sleep(50 + random(150))
      }
      stats.refreshesSeen.push(refreshes)
      if (alive && random(4) !== 0) {
        const out = await request('DELETE', '/session', { cookie })
        if (out.status === 204) stats.logouts++
        const after = await request('GET', '/session', { cookie })
        if (after.status !== 401) count(stats.unexpected5xx, `a logged-out session answered ${after.status}`)
      }
    }
  }

  const sampler = (async () => {
    while (Date.now() < deadline) {
      try { samples.push({ t: Date.now() - started, usage: await gateway.call<Usage>('gc') }) } catch {}
      await sleep(SAMPLE_EVERY_MS)
    }
  })()
  const injector = (async () => {
    let n = 0
    while (options.faults) {
      await sleep(INJECT_EVERY_MS)
      if (Date.now() + INJECTED_WINDOW_MS >= deadline) break
      idp.setFault({ endpoint: 'token', grantType: n++ % 2 === 0 ? 'password' : 'refresh_token', times: 1, status: 503, body: { error: 'temporarily_unavailable' } })
      injections.push(Date.now())
    }
  })()
  const progress = setInterval(() => {
    const heap = samples.at(-1)?.usage.heapUsedBytes ?? 0
    process.stdout.write(`  ${Math.round((Date.now() - started) / 1000)} s: ${stats.requests} requests, ${stats.sessions} sessions, heap ${(heap / 1e6).toFixed(1)} MB\n`)
  }, 30_000)
  await Promise.all(Array.from({ length: options.users }, async (_, i) => { await user(i) }))
  clearInterval(progress)
  await Promise.all([sampler, injector])
  const reuseDetections = idp.stats.reuseDetections
  const refreshCalls = idp.stats.tokenCalls.refresh_token ?? 0
  await gateway.stop()
  await echo.stop()
  await idp.close()
  process.exitCode = report(options, stats, samples, { reuseDetections, refreshCalls, injections: injections.length, elapsedMs: Date.now() - started }) ? 0 : 1
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
}

function mean (values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
}

/** Least-squares slope, y per x. */
function slope (points: Array<[number, number]>): number {
  const mx = mean(points.map(p => p[0]))
  const my = mean(points.map(p => p[1]))
  let num = 0
  let den = 0
  for (const [x, y] of points) {
    num += (x - mx) * (y - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

function report (options: Options, stats: Stats, samples: Array<{ t: number, usage: Usage }>, idp: { reuseDetections: number, refreshCalls: number, injections: number, elapsedMs: number }): boolean {
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`
  const third = Math.floor(samples.length / 3)
  const middle = samples.slice(third, 2 * third).map(s => s.usage.heapUsedBytes)
  const last = samples.slice(2 * third).map(s => s.usage.heapUsedBytes)
  const afterWarmup = samples.slice(third).map(s => [s.t / 60_000, s.usage.heapUsedBytes] as [number, number])
  const heapSlope = slope(afterWarmup)
  const rss = samples.map(s => s.usage.rssBytes)
  const memoryFlat = samples.length >= 6 && mean(last) <= mean(middle) * 1.1 + 1e6 && heapSlope < 1e6
  const unexpected = [...stats.unexpected5xx.values()].reduce((a, b) => a + b, 0)
  const perSession = stats.refreshesSeen
  const lines = [
    '',
    `soak finished: ${(idp.elapsedMs / 1000).toFixed(0)} s, ${options.users} users, access tokens ${options.ttlSec} s`,
    `requests: ${stats.requests} (${(stats.requests / (idp.elapsedMs / 1000)).toFixed(0)}/s), latency p50 ${percentile(stats.latencies, 0.5).toFixed(1)} ms, p99 ${percentile(stats.latencies, 0.99).toFixed(1)} ms, max ${percentile(stats.latencies, 1).toFixed(1)} ms`,
    'by status and code:',
    ...[...stats.byOutcome].sort((a, b) => b[1] - a[1]).map(([key, n]) => `  ${key.padEnd(34)} ${n}`),
    `sessions: ${stats.sessions} logged in, ${stats.logouts} logged out, ${stats.badLogins} bad logins, ${stats.lost.length} lost`,
    `refreshes: ${idp.refreshCalls} refresh calls at the IdP (${(idp.refreshCalls / Math.max(1, stats.sessions)).toFixed(1)} per session); seen by clients per session: mean ${mean(perSession).toFixed(1)}, max ${Math.max(0, ...perSession)}`,
    `faults injected: ${idp.injections}; 5xx caused by them: ${stats.injected5xx}`,
    `gateway memory after GC (${samples.length} samples): heap first ${mb(samples[0]?.usage.heapUsedBytes ?? 0)}, middle third mean ${mb(mean(middle))}, last third mean ${mb(mean(last))}, slope after warm-up ${(heapSlope / 1e6).toFixed(2)} MB/min; RSS ${mb(Math.min(...rss))} - ${mb(Math.max(...rss))}`,
    'heap over time: ' + samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 12)) === 0).map(s => `${Math.round(s.t / 1000)}s ${mb(s.usage.heapUsedBytes)}`).join(', '),
    '',
    'pass criteria:'
  ]
  const criteria: Array<[string, boolean, string]> = [
    ['zero 5xx not caused by an injected fault', unexpected === 0, unexpected === 0 ? '0' : [...stats.unexpected5xx].map(([k, n]) => `${k} ×${n}`).join('; ')],
    ['zero sessions lost', stats.lost.length === 0, stats.lost.slice(0, 5).map(l => `${l.code} at ${Math.round(l.at / 1000)} s`).join(', ') || '0'],
    ['zero refresh-token reuse detections', idp.reuseDetections === 0, String(idp.reuseDetections)],
    ['memory flat after warm-up', memoryFlat, `last third ${mb(mean(last))} vs middle ${mb(mean(middle))}, slope ${(heapSlope / 1e6).toFixed(2)} MB/min`]
  ]
  for (const [name, ok, detail] of criteria) lines.push(`  ${ok ? 'PASS' : 'FAIL'}  ${name}: ${detail}`)
  process.stdout.write(lines.join('\n') + '\n')
  return criteria.every(([, ok]) => ok)
}
