/**
 * `npm run bench`: the gateway's cost per request against the limit of our own stack, on 127.0.0.1.
 * See bench/README.md for what every number means. Options:
 *   --duration <s>      seconds per measured round and target (default 3)
 *   --connections <n>   autocannon connections (default 50)
 *   --rounds <n>        interleaved rounds: upstream, bare proxy, gateway, then again, the proxies' order swapped
 *                       every round (default 10)
 *   --warmup <s>        unmeasured seconds per target before the rounds (default 3)
 *   --quick             smoke mode: memory at 10k only (no 100k/500k, so the memory target reads n/a), no LOG_LEVEL=info
 *                       rounds, fewer login iterations
 *   --rate <fraction>   offered load of the fixed-rate latency rounds, as a fraction of the bare proxy's measured
 *                       throughput (default 0.3)
 *   --redis <url|off>   the Redis for the gateway-redis target (default redis://127.0.0.1:6379); skipped when it does
 *                       not answer
 *   --shared-cpus       do not pin: by default the server under test gets the last core to itself (taskset), the load
 *                       generator and the upstream share the others
 *   --profile           run the bare proxy and the gateways (memory, Redis) under node --cpu-prof and summarise their
 *                       self time
 *   --out <file>        where the JSON goes (default bench/results/latest.json)
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { startIdp } from '../idp/app.js'
import { pinToCpus, spawnChild, type Child, type Usage } from './lib/ipc.js'
import { pacedLoad } from './lib/paced-load.js'
import { formatProfile, summariseProfile, type ProfileSummary } from './lib/profile-summary.js'
import { BENCH_USER, COOKIE_NAME, gatewayEnv } from './lib/real-login.js'
import type { LoginCostResult } from './login-cost.js'
import type { MemoryResult } from './memory.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const PATH = '/api/bench'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rate: { type: 'string', default: '0.3' },
    'shared-cpus': { type: 'boolean', default: false },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string', default: join(HERE, 'results', 'latest.json') }
  }
})
const positive = (name: string, value: string | undefined): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got ${String(value)}`)
  return n
}
const options = {
  durationSec: positive('duration', args.duration),
  connections: Math.max(1, Math.round(positive('connections', args.connections))),
  rounds: Math.max(1, Math.round(positive('rounds', args.rounds))),
  warmupSec: positive('warmup', args.warmup),
  rateFraction: Math.min(1, positive('rate', args.rate)),
  sharedCpus: args['shared-cpus'] === true,
  redisUrl: args.redis === 'off' ? undefined : args.redis,
  quick: args.quick === true,
  profile: args.profile === true,
  out: resolve(args.out ?? join(HERE, 'results', 'latest.json'))
}
const resultsDir = dirname(options.out)
mkdirSync(resultsDir, { recursive: true })
const log = (line = ''): void => { process.stdout.write(`${line}\n`) }

// ---------------------------------------------------------------------------------------------------------------
// Measurements

interface Measured {
  round: number
  target: string
  /** The offered rate of a fixed-rate round, req/s; absent when the load generator ran flat out. */
  offeredRps?: number
  rps: number
  p50Ms: number
  p99Ms: number
  requests: number
  /** CPU of the server process under test (user + system) per completed request, microseconds. */
  cpuUsPerRequest: number
  rssMb: number
  non2xx: number
  errors: number
}

interface Target { name: string, child: Child, headers: Record<string, string> }

interface Load { requests: number, duration: number, non2xx: number, errors: number, latenciesMs: Float64Array }

/**
 * Drives `url` for `seconds` flat out with autocannon, or at a steady `rate` (requests per second in all) with the
 * paced generator. Latencies are taken from every response at the timer's own resolution (autocannon's summary
 * rounds them to whole milliseconds).
 */
async function load (url: string, headers: Record<string, string>, seconds: number, rate?: number): Promise<Load> {
  if (rate !== undefined) {
    const paced = await pacedLoad({ url, headers, rate, seconds, connections: options.connections })
    return { requests: paced.requests, duration: paced.duration, non2xx: paced.non2xx, errors: paced.errors, latenciesMs: paced.latenciesMs }
  }
  const latencies: number[] = []
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, headers, connections: options.connections, duration: seconds, pipelining: 1 },
      (err, done) => { if (err !== null && err !== undefined) reject(err); else resolve(done) })
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTimeMs)
    })
  })
  return { requests: result.requests.total, duration: result.duration, non2xx: result.non2xx, errors: result.errors, latenciesMs: Float64Array.from(latencies).sort() }
}

const quantile = (sorted: Float64Array, q: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN

async function measure (round: number, target: Target, seconds: number, rate?: number): Promise<Measured> {
  const before = await target.child.usage()
  const result = await load(`http://127.0.0.1:${target.child.port}${PATH}`, target.headers, seconds, rate)
  const after: Usage = await target.child.usage()
  const { requests, latenciesMs } = result
  const cpuUs = (after.userUs - before.userUs) + (after.systemUs - before.systemUs)
  return {
    round,
    target: target.name,
    ...(rate === undefined ? {} : { offeredRps: rate }),
    rps: requests / result.duration,
    p50Ms: quantile(latenciesMs, 0.5),
    p99Ms: quantile(latenciesMs, 0.99),
    requests,
    cpuUsPerRequest: requests === 0 ? Number.NaN : cpuUs / requests,
    rssMb: after.rssBytes / 1024 / 1024,
    non2xx: result.non2xx,
    errors: result.errors
  }
}

/** Logs in over HTTP and returns the Cookie header value. */
async function loginCookie (port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf': '1' },
    body: JSON.stringify(BENCH_USER)
  })
  const text = await response.text()
  const cookie = response.headers.getSetCookie().find(line => line.startsWith(`${COOKIE_NAME}=`))
  if (response.status !== 200 || cookie === undefined) throw new Error(`login failed: ${response.status} ${text}`)
  return cookie.split(';', 1)[0] ?? ''
}

async function expectOk (port: number, headers: Record<string, string>, what: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}${PATH}`, { headers })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${what}: GET ${PATH} answered ${response.status}: ${text}`)
}

const median = (values: number[]): number => {
  const sorted = values.filter(v => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN
}

// ---------------------------------------------------------------------------------------------------------------
// Login cost over HTTP: the gateway process's own CPU per POST /session (the IdP runs in this process, not there).

interface HttpLoginCost { logins: number, concurrency: number, cpuUsPerLogin: number, p50Ms: number, p99Ms: number }

async function httpLoginCost (gateway: Child, logins: number, concurrency: number): Promise<HttpLoginCost> {
  for (let i = 0; i < Math.min(20, logins); i++) await loginCookie(gateway.port) // warm up
  const latencies: number[] = []
  const before = await gateway.usage()
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < logins) {
      next++
      const started = performance.now()
      await loginCookie(gateway.port)
      latencies.push(performance.now() - started)
    }
  }))
  const after = await gateway.usage()
  const cpu = (after.userUs - before.userUs) + (after.systemUs - before.systemUs)
  return { logins: latencies.length, concurrency, cpuUsPerLogin: cpu / latencies.length, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) }
}

// ---------------------------------------------------------------------------------------------------------------
// Refresh storm: N requests at once on one session whose access token has expired.

interface StormResult {
  requests: number
  ok: number
  statuses: Record<string, number>
  refreshCalls: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

async function refreshStorm (echoUrl: string, concurrency: number, cpus: string | undefined): Promise<StormResult> {
  const accessTokenTtlSec = 120
  const idp = await startIdp({ host: '127.0.0.1', port: 0, accessTokenTtlSec })
  const gateway = await spawnChild('gateway-storm', join(HERE, 'servers', 'gateway.ts'), {
    env: { ...gatewayEnv(idp.url, { UPSTREAMS: `/api=${echoUrl}`, LOG_LEVEL: 'warn' }), BENCH_CLOCK_CONTROL: '1' },
    stdout: join(resultsDir, 'gateway-storm.log'),
    cpus
  })
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency })
  try {
    const cookie = await loginCookie(gateway.port)
    const get = async (): Promise<{ status: number, ms: number }> => await new Promise((resolve, reject) => {
      const started = performance.now()
      const req = httpRequest({ host: '127.0.0.1', port: gateway.port, path: PATH, agent, headers: { cookie } }, res => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }))
      })
      req.on('error', reject)
      req.end()
    })
    // Open every connection first (token still fresh), so the storm measures the refresh, not TCP accept backlogs.
    await Promise.all(Array.from({ length: concurrency }, get))
    const before = idp.stats.tokenCalls.refresh_token ?? 0
    // Past the token's expiry: every request now finds it expired and must wait for a refresh.
    await gateway.call('advanceClock', (accessTokenTtlSec + 5) * 1000)
    const results = await Promise.all(Array.from({ length: concurrency }, get))
    const refreshCalls = (idp.stats.tokenCalls.refresh_token ?? 0) - before
    const statuses: Record<string, number> = {}
    for (const { status } of results) statuses[status] = (statuses[status] ?? 0) + 1
    const latencies = results.map(r => r.ms)
    return {
      requests: results.length,
      ok: statuses['200'] ?? 0,
      statuses,
      refreshCalls,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
      maxMs: Math.max(...latencies)
    }
  } finally {
    agent.destroy()
    await gateway.stop()
    await idp.close()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const f = (value: number, digits = 2): string => Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
const row = (cells: Array<string | number>, widths: number[]): string =>
  cells.map((cell, i) => i === 0 ? String(cell).padEnd(widths[i] ?? 8) : String(cell).padStart(widths[i] ?? 8)).join('  ')
const WIDTHS = [16, 10, 8, 8, 11, 8, 9]

function measuredRow (m: Measured, label = m.target): string {
  const bad = m.non2xx + m.errors
  return row([label, f(m.rps, 0), f(m.p50Ms), f(m.p99Ms), f(m.cpuUsPerRequest, 1), f(m.rssMb, 0), bad === 0 ? '0' : `${bad} !`], WIDTHS)
}

interface RoundRatio { round: number, rpsRatio: number, cpuUsDelta: number, p99DeltaMs: number, p50DeltaMs: number }
/** The LOG_LEVEL=info rounds: medians, and the median of the per-round comparisons with the bare proxy. */
interface InfoRounds {
  rounds: number
  bare: Measured
  gateway: Measured
  ratio: Omit<RoundRatio, 'round'>
}
/** Rounds of the LOG_LEVEL=info comparison (bare proxy and the gateway at info, order alternating). */
const INFO_ROUNDS = 3
function ratio (round: number, bare: Measured, gateway: Measured): RoundRatio {
  return {
    round,
    rpsRatio: gateway.rps / bare.rps,
    cpuUsDelta: gateway.cpuUsPerRequest - bare.cpuUsPerRequest,
    p99DeltaMs: gateway.p99Ms - bare.p99Ms,
    p50DeltaMs: gateway.p50Ms - bare.p50Ms
  }
}
/** The median of each per-round comparison (never a ratio of medians: neighbours in time are compared). */
const medianRatio = (ratios: RoundRatio[]): Omit<RoundRatio, 'round'> => ({
  rpsRatio: median(ratios.map(r => r.rpsRatio)),
  cpuUsDelta: median(ratios.map(r => r.cpuUsDelta)),
  p99DeltaMs: median(ratios.map(r => r.p99DeltaMs)),
  p50DeltaMs: median(ratios.map(r => r.p50DeltaMs))
})
const ratioRow = (r: RoundRatio, label = 'gateway/bare'): string =>
  row([label, `${f(r.rpsRatio)}x`, `${r.p50DeltaMs >= 0 ? '+' : ''}${f(r.p50DeltaMs)}`, `${r.p99DeltaMs >= 0 ? '+' : ''}${f(r.p99DeltaMs)}`, `${r.cpuUsDelta >= 0 ? '+' : ''}${f(r.cpuUsDelta, 1)}`, '', ''], WIDTHS)

// ---------------------------------------------------------------------------------------------------------------
// Main

const children: Child[] = []
async function stopAll (): Promise<void> {
  for (const child of children.splice(0)) await child.stop().catch(() => {})
}
process.on('SIGINT', () => { void stopAll().finally(() => process.exit(130)) })

async function main (): Promise<void> {
  const startedAt = new Date()
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}`, date: startedAt.toISOString() }
  const profileDir = join(resultsDir, 'profiles')
  if (options.profile) { rmSync(profileDir, { recursive: true, force: true }); mkdirSync(profileDir, { recursive: true }) }
  // One folder per server: tsx's loader thread writes a profile of its own; the main thread's is the largest.
  const profileArgs = (name: string): string[] => options.profile ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, name)] : []

  const cpuPlan = planCpus(machine.nproc)
  if (cpuPlan !== undefined) pinToCpus(process.pid, cpuPlan.others)
  const serverCpus = cpuPlan?.server

  log(`bff-token-gateway bench — ${machine.date}`)
  log(`machine: nproc=${machine.nproc} (${machine.cpu}), node ${machine.node}, ${machine.platform}`)
  log(`load: autocannon, ${options.connections} connections, ${options.durationSec}s per round and target, ${options.rounds} interleaved rounds, ${options.warmupSec}s warm-up; GET ${PATH}, same Cookie header to every target`)
  log('gateway: memory store, one logged-in session, LOG_LEVEL=warn in the rounds (production default is info: see the extra round)')
  log(cpuPlan === undefined
    ? 'cpus: shared (no pinning): every process runs on every core'
    : `cpus: the server under test runs alone on cpu ${cpuPlan.server}; autocannon, the upstream and the IdP on cpu ${cpuPlan.others}`)
  log()

  // An IdP whose access tokens outlive the run: the rounds measure the steady state, not a refresh.
  const idp = await startIdp({ host: '127.0.0.1', port: 0, accessTokenTtlSec: 86_400 })
  const echo = await spawnChild('echo', join(HERE, 'servers', 'echo.ts'))
  children.push(echo)
  const echoUrl = `http://127.0.0.1:${echo.port}`
  const bare = await spawnChild('bare-proxy', join(HERE, 'servers', 'bare-proxy.ts'), { env: { BENCH_UPSTREAM: echoUrl }, nodeArgs: profileArgs('bare-proxy'), cpus: serverCpus })
  children.push(bare)
  const gatewayLog = join(resultsDir, 'gateway-warn.log')
  writeFileSync(gatewayLog, '')
  const gateway = await spawnChild('gateway', join(HERE, 'servers', 'gateway.ts'), {
    env: gatewayEnv(idp.url, { UPSTREAMS: `/api=${echoUrl}`, LOG_LEVEL: 'warn' }),
    stdout: gatewayLog,
    nodeArgs: profileArgs('gateway'),
    cpus: serverCpus
  })
  children.push(gateway)

  const cookie = await loginCookie(gateway.port)
  const headers = { cookie }
  const targets: Target[] = [
    { name: 'upstream', child: echo, headers },
    { name: 'bare-proxy', child: bare, headers },
    { name: 'gateway', child: gateway, headers }
  ]
  // The same gateway with its sessions in Redis (sealed records, one Redis read per request), when Redis answers.
  const redisPrefix = `bench-${process.pid}:`
  const redisGateway = options.redisUrl !== undefined && await redisAnswers(options.redisUrl)
    ? await spawnChild('gateway-redis', join(HERE, 'servers', 'gateway.ts'), {
      env: gatewayEnv(idp.url, {
        UPSTREAMS: `/api=${echoUrl}`,
        LOG_LEVEL: 'warn',
        SESSION_STORE: 'redis',
        REDIS_URL: options.redisUrl,
        REDIS_KEY_PREFIX: redisPrefix,
        SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url')
      }),
      stdout: join(resultsDir, 'gateway-redis-warn.log'),
      nodeArgs: profileArgs('gateway-redis'),
      cpus: serverCpus
    })
    : undefined
  if (redisGateway !== undefined) {
    children.push(redisGateway)
    targets.push({ name: 'gateway-redis', child: redisGateway, headers: { cookie: await loginCookie(redisGateway.port) } })
  } else {
    log(`gateway-redis: skipped (${options.redisUrl === undefined ? '--redis off' : `no answer from ${options.redisUrl}`})`)
  }
  for (const target of targets) await expectOk(target.child.port, target.headers, target.name)

  if (options.warmupSec > 0) {
    for (const target of targets) await load(`http://127.0.0.1:${target.child.port}${PATH}`, target.headers, options.warmupSec)
  }

  log(row(['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU us/req', 'RSS MB', 'non-2xx'], WIDTHS))
  const measured: Measured[] = []
  const ratios: RoundRatio[] = []
  const redisRatios: RoundRatio[] = []
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}`)
    const inRound: Record<string, Measured> = {}
    for (const target of inRoundOrder(targets, round)) {
      const m = await measure(round, target, options.durationSec)
      measured.push(m)
      inRound[target.name] = m
      log(measuredRow(m))
    }
    const b = inRound['bare-proxy']
    const g = inRound.gateway
    if (b !== undefined && g !== undefined) {
      const r = ratio(round, b, g)
      ratios.push(r)
      log(ratioRow(r))
    }
    const gr = inRound['gateway-redis']
    if (b !== undefined && gr !== undefined) {
      const r = ratio(round, b, gr)
      redisRatios.push(r)
      log(ratioRow(r, 'redis/bare'))
    }
  }
  const summary = {
    upstream: summarise(measured.filter(m => m.target === 'upstream')),
    bareProxy: summarise(measured.filter(m => m.target === 'bare-proxy')),
    gateway: summarise(measured.filter(m => m.target === 'gateway')),
    ratio: medianRatio(ratios)
  }
  log(`median of ${options.rounds} round(s)`)
  log(measuredRow(summary.upstream, 'upstream'))
  log(measuredRow(summary.bareProxy, 'bare-proxy'))
  log(measuredRow(summary.gateway, 'gateway'))
  log(ratioRow({ round: 0, ...summary.ratio }))
  const redisSummary = redisRatios.length === 0
    ? undefined
    : {
        gateway: summarise(measured.filter(m => m.target === 'gateway-redis')),
        ratio: medianRatio(redisRatios)
      }
  if (redisSummary !== undefined) {
    log(measuredRow(redisSummary.gateway, 'gateway-redis'))
    log(ratioRow({ round: 0, ...redisSummary.ratio }, 'redis/bare'))
  }
  if (redisGateway !== undefined) {
    await redisGateway.stop()
    children.splice(children.indexOf(redisGateway), 1)
    await clearRedisPrefix(options.redisUrl ?? '', redisPrefix)
  }

  // Latency at the same offered load: at saturation a proxy's latency is its queue (connections / throughput), so
  // there the p99 mostly restates the req/s ratio. Both proxies get the same fixed rate, interleaved, every round.
  const offeredRps = Math.max(1, Math.round(summary.bareProxy.rps * options.rateFraction))
  log()
  log(`fixed rate: ${offeredRps} req/s offered to each proxy (${f(options.rateFraction)} of the bare proxy's median throughput), ${options.connections} connections`)
  log(row(['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU us/req', 'RSS MB', 'non-2xx'], WIDTHS))
  if (options.warmupSec > 0) {
    for (const target of targets.slice(1, 3)) await load(`http://127.0.0.1:${target.child.port}${PATH}`, target.headers, options.warmupSec, offeredRps)
  }
  const atRate: Measured[] = []
  const rateRatios: RoundRatio[] = []
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}`)
    const inRound: Record<string, Measured> = {}
    for (const target of inRoundOrder(targets.slice(0, 3), round).slice(1)) {
      const m = await measure(round, target, options.durationSec, offeredRps)
      atRate.push(m)
      inRound[target.name] = m
      log(measuredRow(m))
    }
    const b = inRound['bare-proxy'] as Measured
    const g = inRound.gateway as Measured
    const r = ratio(round, b, g)
    rateRatios.push(r)
    log(ratioRow(r))
  }
  const fixedRate = {
    offeredRps,
    bareProxy: summarise(atRate.filter(m => m.target === 'bare-proxy')),
    gateway: summarise(atRate.filter(m => m.target === 'gateway')),
    ratio: medianRatio(rateRatios)
  }
  log(`median of ${options.rounds} round(s)`)
  log(measuredRow(fixedRate.bareProxy, 'bare-proxy'))
  log(measuredRow(fixedRate.gateway, 'gateway'))
  log(ratioRow({ round: 0, ...fixedRate.ratio }))

  // The gateway's login path, over HTTP: its own CPU per login (the IdP's share is in this process).
  const loginsOverHttp = await httpLoginCost(gateway, options.quick ? 20 : 500, 4)

  // Production log level: a few extra rounds of the bare proxy and a gateway at LOG_LEVEL=info, logs to /dev/null.
  let infoRounds: InfoRounds | undefined
  if (!options.quick) {
    const child = await spawnChild('gateway-info', join(HERE, 'servers', 'gateway.ts'), {
      env: gatewayEnv(idp.url, { UPSTREAMS: `/api=${echoUrl}`, LOG_LEVEL: 'info' }),
      stdout: 'ignore',
      cpus: serverCpus
    })
    children.push(child)
    const bareTarget = targets[1] as Target
    const infoTarget: Target = { name: 'gateway (info)', child, headers: { cookie: await loginCookie(child.port) } }
    if (options.warmupSec > 0) await load(`http://127.0.0.1:${child.port}${PATH}`, infoTarget.headers, options.warmupSec)
    log('extra rounds: the gateway at LOG_LEVEL=info (production default), logs written to /dev/null')
    const atInfo: Measured[] = []
    const perRound: RoundRatio[] = []
    for (let round = 1; round <= INFO_ROUNDS; round++) {
      const inRound = new Map<Target, Measured>()
      for (const target of round % 2 === 1 ? [bareTarget, infoTarget] : [infoTarget, bareTarget]) inRound.set(target, await measure(round, target, options.durationSec))
      const b = inRound.get(bareTarget) as Measured
      const g = inRound.get(infoTarget) as Measured
      atInfo.push(b, g)
      perRound.push(ratio(round, b, g))
    }
    infoRounds = {
      rounds: INFO_ROUNDS,
      bare: summarise(atInfo.filter(m => m.target === bareTarget.name)),
      gateway: summarise(atInfo.filter(m => m.target === infoTarget.name)),
      ratio: medianRatio(perRound)
    }
    log(`median of ${INFO_ROUNDS} round(s)`)
    log(measuredRow(infoRounds.bare, 'bare-proxy'))
    log(measuredRow(infoRounds.gateway, 'gateway (info)'))
    log(ratioRow({ round: 0, ...infoRounds.ratio }, 'info/bare'))
    await child.stop()
    children.splice(children.indexOf(child), 1)
  }

  // Stop the servers under test (a --cpu-prof profile is written as each exits); keep the echo for the storm.
  await gateway.stop()
  await bare.stop()
  children.splice(children.indexOf(gateway), 1)
  children.splice(children.indexOf(bare), 1)
  await idp.close()

  log()
  const storm = await refreshStorm(echoUrl, 1_000, serverCpus)
  log(`refresh storm: ${storm.requests} concurrent requests on an expired access token → ${storm.refreshCalls} refresh call(s) at the IdP; ` +
    `${storm.ok} answered 200 ${JSON.stringify(storm.statuses)}; latency p50 ${f(storm.p50Ms)} ms, p99 ${f(storm.p99Ms)} ms, max ${f(storm.maxMs)} ms`)
  await echo.stop()
  children.splice(children.indexOf(echo), 1)

  const memoryJob = await spawnChild('memory', join(HERE, 'memory.ts'), { nodeArgs: ['--expose-gc', '--max-old-space-size=8192'] })
  children.push(memoryJob)
  const memory = await memoryJob.call<MemoryResult>('run', { counts: options.quick ? [10_000] : [10_000, 100_000, 500_000] })
  await memoryJob.stop()
  children.splice(children.indexOf(memoryJob), 1)
  log(`session record from a real login: access token ${memory.record.accessTokenChars} chars, refresh token ${memory.record.refreshTokenChars} chars, ${memory.record.userClaims} user claims, ${memory.record.jsonBytes} bytes as JSON`)
  for (const point of memory.points) {
    log(`memory store, ${String(point.sessions).padStart(7)} sessions: ${f(point.heapBytesPerSession, 0)} heap bytes/session + ${f(point.arrayBufferBytesPerSession, 0)} typed-array bytes/session (size ${point.storeSize}, filled in ${point.fillMs} ms)`)
  }
  const ev = memory.eviction
  log(`eviction: maxEntries ${ev.maxEntries}, ${ev.inserted} sessions created → size ${ev.sizeAfter}, ${ev.evicted} evicted, oldest gone: ${String(ev.oldestGone)}, newest kept: ${String(ev.newestKept)}`)

  const loginJob = await spawnChild('login-cost', join(HERE, 'login-cost.ts'))
  children.push(loginJob)
  const loginSteps = await loginJob.call<LoginCostResult>('run', { iterations: options.quick ? 100 : 2_000 })
  await loginJob.stop()
  children.splice(children.indexOf(loginJob), 1)
  const s = loginSteps.cpuUsPerLogin
  log(`login, gateway-side steps (${loginSteps.iterations} iterations): ${f(s.total, 0)} us CPU = parse ${f(s.parse, 1)} + id_token verify ${f(s.verifyIdToken, 1)} + session create ${f(s.createSession, 1)} + cookie sign ${f(s.signCookie, 1)}`)
  log(`login over HTTP (${loginsOverHttp.logins} logins, ${loginsOverHttp.concurrency} at a time): ${f(loginsOverHttp.cpuUsPerLogin, 0)} us gateway CPU per login (IdP excluded: it runs in the bench process); latency p50 ${f(loginsOverHttp.p50Ms)} ms, p99 ${f(loginsOverHttp.p99Ms)} ms (IdP included)`)

  // Targets
  const at100k = memory.points.find(point => point.sessions === 100_000)
  const bytesAt100k = at100k === undefined ? Number.NaN : at100k.heapBytesPerSession + at100k.arrayBufferBytesPerSession
  const targetsMet: Array<{ target: string, value: string, pass: boolean | null }> = [
    { target: 'gateway req/s >= 0.90x bare proxy', value: `${f(summary.ratio.rpsRatio)}x`, pass: summary.ratio.rpsRatio >= 0.9 },
    { target: 'gateway CPU <= bare proxy + 10 us/request', value: `${summary.ratio.cpuUsDelta >= 0 ? '+' : ''}${f(summary.ratio.cpuUsDelta, 1)} us`, pass: summary.ratio.cpuUsDelta <= 10 },
    { target: `gateway p99 <= bare proxy p99 + 1 ms (${offeredRps} req/s)`, value: `${fixedRate.ratio.p99DeltaMs >= 0 ? '+' : ''}${f(fixedRate.ratio.p99DeltaMs)} ms`, pass: fixedRate.ratio.p99DeltaMs <= 1 },
    { target: 'gateway (Redis store) req/s >= 0.75x bare', value: redisSummary === undefined ? 'not measured (no Redis)' : `${f(redisSummary.ratio.rpsRatio)}x`, pass: redisSummary === undefined ? null : redisSummary.ratio.rpsRatio >= 0.75 },
    { target: 'memory store <= 2 KB per session at 100k', value: Number.isNaN(bytesAt100k) ? 'not measured (--quick)' : `${f(bytesAt100k, 0)} B (heap + typed arrays)`, pass: Number.isNaN(bytesAt100k) ? null : bytesAt100k <= 2048 },
    { target: 'refresh storm: exactly 1 IdP refresh call', value: `${storm.refreshCalls} call(s), ${storm.ok}/${storm.requests} ok`, pass: storm.refreshCalls === 1 && storm.ok === storm.requests }
  ]
  const invalid = [...measured, ...atRate].filter(m => m.non2xx + m.errors > 0)
  log()
  log(`targets (medians over ${options.rounds} round(s); gateway at LOG_LEVEL=warn)`)
  for (const t of targetsMet) log(`${t.pass === null ? 'SKIP' : t.pass ? 'PASS' : 'MISS'}  ${t.target.padEnd(44)} ${t.value}`)
  if (invalid.length > 0) log(`WARNING: ${invalid.length} measurement(s) saw non-2xx answers or errors; their numbers are not comparable`)

  let profiles: ProfileSummary[] = []
  if (options.profile) {
    for (const server of readdirSync(profileDir)) {
      const files = readdirSync(join(profileDir, server)).filter(name => name.endsWith('.cpuprofile')).map(name => join(profileDir, server, name))
      const main = files.sort((a, b) => statSync(b).size - statSync(a).size)[0]
      if (main !== undefined) profiles.push(summariseProfile(main))
    }
    for (const profile of profiles) { log(); log(formatProfile(profile)) }
  }

  const output = {
    schema: 1,
    machine,
    options: { ...options, out: undefined, path: PATH, gatewayLogLevel: 'warn', cpus: cpuPlan ?? 'shared' },
    rounds: measured,
    ratios,
    summary,
    redis: redisSummary === undefined ? undefined : { ...redisSummary, ratios: redisRatios },
    fixedRate: { ...fixedRate, rounds: atRate, ratios: rateRatios },
    infoRounds,
    storm,
    memory,
    login: { steps: loginSteps, overHttp: loginsOverHttp },
    targets: targetsMet,
    profiles,
    finishedAt: new Date().toISOString()
  }
  writeFileSync(options.out, `${JSON.stringify(output, null, 2)}\n`)
  log()
  log(`wrote ${options.out}`)
}

/**
 * The targets in a round's order: the upstream first, then the proxies as given in odd rounds and reversed in even
 * ones, so no proxy is always the one measured right after another (a machine that slows down or speeds up over a
 * round favours none).
 */
function inRoundOrder (targets: Target[], round: number): Target[] {
  const [first, ...proxies] = targets
  if (first === undefined) return []
  return round % 2 === 1 ? targets : [first, ...proxies.reverse()]
}

/** Whether a Redis answers PING at this URL (within a second). */
async function redisAnswers (url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await redis.ping() === 'PONG'
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

/** Deletes the keys the Redis gateway wrote (its sessions, per-user index), so a bench leaves nothing behind. */
async function clearRedisPrefix (url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Which CPUs the server under test and everything else get, or undefined to share them all. */
function planCpus (nproc: number): { server: string, others: string } | undefined {
  if (options.sharedCpus || nproc < 2) return undefined
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
  } catch {
    log('taskset(1) not found (util-linux): running without pinning')
    return undefined
  }
  const last = nproc - 1
  return { server: String(last), others: last === 1 ? '0' : `0-${last - 1}` }
}

function summarise (rows: Measured[]): Measured {
  return {
    round: 0,
    target: rows[0]?.target ?? '',
    rps: median(rows.map(m => m.rps)),
    p50Ms: median(rows.map(m => m.p50Ms)),
    p99Ms: median(rows.map(m => m.p99Ms)),
    requests: rows.reduce((sum, m) => sum + m.requests, 0),
    cpuUsPerRequest: median(rows.map(m => m.cpuUsPerRequest)),
    rssMb: Math.max(...rows.map(m => m.rssMb)),
    non2xx: rows.reduce((sum, m) => sum + m.non2xx, 0),
    errors: rows.reduce((sum, m) => sum + m.errors, 0)
  }
}

try {
  await main()
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
} finally {
  await stopAll()
}
