/**
 * The benchmark harness must not rot: a one-second, one-round, --quick run produces a well-formed result.
 * Asserts shape and correctness only (numbers present, one refresh call per storm), never a performance threshold.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('npm run bench -- --duration 1 --rounds 1 --quick writes a well-formed result', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const out = join(dir, 'result.json')
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--duration', '1', '--rounds', '1', '--warmup', '0', '--connections', '10', '--quick', '--out', out], {
    cwd: root,
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: '' }
  })
  t.match(stdout, /LOG_LEVEL=warn/)
  t.match(stdout, /^(PASS|MISS|SKIP) {2}gateway req\/s/m)

  const result = JSON.parse(readFileSync(out, 'utf8')) as Record<string, any> // any: a parsed JSON document, checked field by field below
  t.equal(result.machine.nproc > 0, true)
  // CI runs Redis (.ci/run), so the Redis-store gateway is measured too.
  t.same(result.rounds.map((m: { target: string }) => m.target), ['upstream', 'bare-proxy', 'gateway', 'gateway-redis'])
  t.ok(Number.isFinite(result.redis.ratio.rpsRatio), 'a Redis-store ratio')
  for (const m of result.rounds) {
    for (const field of ['rps', 'p50Ms', 'p99Ms', 'cpuUsPerRequest', 'rssMb']) t.ok(Number.isFinite(m[field]) && m[field] >= 0, `${m.target as string}.${field} is a number`)
    t.ok(m.requests > 0, `${m.target as string} completed requests`)
    t.equal(m.non2xx, 0, `${m.target as string} answered 2xx only`)
  }
  t.ok(Number.isFinite(result.summary.ratio.rpsRatio))
  t.ok(Number.isFinite(result.summary.ratio.cpuUsDelta))
  t.same(result.fixedRate.rounds.map((m: { target: string }) => m.target), ['bare-proxy', 'gateway'], 'one fixed-rate round per proxy')
  for (const m of result.fixedRate.rounds) {
    t.equal(m.offeredRps, result.fixedRate.offeredRps, `${m.target as string} was offered the same rate`)
    t.ok(m.requests > 0 && m.non2xx === 0, `${m.target as string} answered at the fixed rate`)
    t.ok(Number.isFinite(m.p99Ms) && m.p99Ms >= m.p50Ms, `${m.target as string} latency percentiles are ordered`)
  }
  t.ok(Number.isFinite(result.fixedRate.ratio.p99DeltaMs))
  t.equal(result.storm.requests, 1000)
  t.equal(result.storm.refreshCalls, 1, 'one IdP refresh call for the whole storm')
  t.equal(result.storm.ok, 1000)
  t.ok(result.memory.points.length >= 1 && result.memory.points.every((p: { heapBytesPerSession: number }) => p.heapBytesPerSession > 0))
  t.equal(result.memory.eviction.sizeAfter, result.memory.eviction.maxEntries, 'the store stays at its bound')
  t.ok(result.login.steps.cpuUsPerLogin.total > 0)
  t.ok(result.login.overHttp.cpuUsPerLogin > 0)
  t.equal(result.targets.length, 6)
})
