/**
 * What can be checked of the container without a Docker engine: the Dockerfile's shape, compose.yaml, and the
 * production start command (`node dist/server.js`) run as a child process: probes, metrics, graceful shutdown.
 */
import { spawn, execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../fastify.config.js'
import { ALICE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SESSION_SECRET, startTestIdp } from '../helpers/gateway.js'
import { parseProm, value } from './prom.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SOURCES = ['app.ts', 'server.ts', 'fastify.config.ts', 'package.json', 'src', 'plugins', 'routes', 'idp']

function newest (path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...readdirSync(path).map(name => newest(join(path, name))))
}

/** `npm run build` unless dist/ is newer than every source (the suite builds at most once). */
async function ensureBuild (): Promise<void> {
  const built = join(ROOT, 'dist/server.js')
  const fresh = existsSync(built) && existsSync(join(ROOT, 'dist/idp/users.json')) &&
    statSync(built).mtimeMs >= Math.max(...SOURCES.map(source => newest(join(ROOT, source))))
  if (!fresh) await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT })
}

/** The Dockerfile's stages as { from, name, lines }. */
function stages (dockerfile: string): Array<{ from: string, name: string | undefined, lines: string[] }> {
  const result: Array<{ from: string, name: string | undefined, lines: string[] }> = []
  for (const line of dockerfile.replace(/\\\n/g, ' ').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from !== null) result.push({ from: from[1] ?? '', name: from[2], lines: [] })
    else result.at(-1)?.lines.push(line)
  }
  return result
}

t.before(ensureBuild)

t.test('Dockerfile: multi-stage, production deps only, non-root, HEALTHCHECK on /healthz, CMD file built', async t => {
  const all = stages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
  t.ok(all.length >= 2, 'multi-stage')
  const [build, runtime] = [all[0], all.at(-1)]
  t.ok(build?.lines.some(l => /^RUN npm run build/.test(l)))
  t.ok(runtime?.lines.some(l => /^RUN npm ci .*--omit=dev/.test(l)), 'npm ci --omit=dev in the final stage')
  t.ok(runtime?.lines.some(l => /^COPY --from=build \/app\/dist/.test(l)))
  t.match(runtime?.lines.find(l => l.startsWith('USER ')), /^USER (node|\d{3,})$/, 'non-root user')
  t.match(runtime?.lines.find(l => l.startsWith('ENV ')), /HOST=0\.0\.0\.0/)
  t.match(runtime?.lines.find(l => l.startsWith('HEALTHCHECK ')), /\/healthz/)
  const cmd = runtime?.lines.find(l => l.startsWith('CMD '))
  const argv: unknown = JSON.parse(cmd?.slice(4) ?? '[]')
  t.same(argv, ['node', 'dist/server.js'])
  t.ok(existsSync(join(ROOT, 'dist/server.js')), 'the CMD file exists after npm run build')
  for (const file of ['dist/idp/server.js', 'dist/idp/users.json', 'dist/idp/clients.json', 'dist/idp/demo-keys/signing-keys.pem']) {
    t.ok(existsSync(join(ROOT, file)), `${file} is built (the IdP runs from the same image)`)
  }
})

t.test('Node 24, the current LTS (issue #15): every Dockerfile stage, engines, and a second CI run of npm test', async t => {
  for (const stage of stages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))) {
    t.match(stage.from, /^node:24-/, `stage ${stage.name ?? ''}: ${stage.from}`)
  }
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? ''
  t.equal(engines, '^20.11.0 || ^24.0.0', 'engines names the two majors CI runs the suite on')
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8')
  t.match(ci, /npm install --prefix "\$node24_prefix" .*"node-linux-\$node_arch@24"/, 'Node 24 from its npm package, no download script')
  t.match(ci, /\nnpm test\n/, 'npm test on the machine\'s Node')
  t.match(ci, /\nPATH="\$node24_bin:\$PATH" npm test\n/, 'npm test again with Node 24 first on PATH')
})

t.test('compose.yaml: two gateway replicas on Redis and the local IdP, with a valid gateway configuration', async t => {
  const compose: unknown = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'), { merge: true })
  const services = (compose as { services: Record<string, { command?: string[], environment?: Record<string, string>, image?: string, depends_on?: unknown }> }).services // shape checked by the assertions below
  t.ok(services.redis?.image?.startsWith('redis:'))
  t.same(services.idp?.command, ['node', 'dist/idp/server.js'])
  const gateways = Object.keys(services).filter(name => name.startsWith('gateway'))
  t.equal(gateways.length, 2, 'two replicas')
  for (const name of gateways) {
    const env = services[name]?.environment ?? {}
    t.equal(env.SESSION_STORE, 'redis')
    t.equal(env.REDIS_URL, 'redis://redis:6379')
    const config = loadConfig(env)
    t.equal(config.store.kind, 'redis', `${name}: the environment passes the gateway's own validation`)
    t.equal(config.idp.issuer, `${services.idp?.environment?.IDP_ISSUER ?? ''}`, 'the IdP advertises the issuer the gateway expects')
    t.ok(services[name]?.depends_on !== undefined)
  }
})

interface Child { lines: Array<Record<string, unknown>>, waitFor (test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>, exited: Promise<number | null> }

function startGateway (env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['dist/server.js'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{ test: (line: Record<string, unknown>) => boolean, resolve: (line: Record<string, unknown>) => void }> = []
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  createInterface({ input: child.stdout }).on('line', text => {
    const line = JSON.parse(text) as Record<string, unknown> // pino writes one JSON object per line
    lines.push(line)
    for (const waiter of waiters.splice(0)) {
      if (waiter.test(line)) waiter.resolve(line)
      else waiters.push(waiter)
    }
  })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  void exited.then(code => { if (code !== 0 && stderr !== '') process.stderr.write(stderr) })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  return {
    lines,
    exited,
    async waitFor (test) {
      const seen = lines.find(test)
      if (seen !== undefined) return seen
      return await new Promise(resolve => { waiters.push({ test, resolve }) })
    }
  }
}

t.test('node dist/server.js: startup line, probes, admin metrics, SIGTERM finishes the held login and exits 0', async t => {
  const idp = await startTestIdp(t)
  const gateway = startGateway({
    OIDC_ISSUER: idp.url,
    AUTH0_CLIENT_ID: DEMO_CLIENT_ID,
    AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET,
    SESSION_SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    UPSTREAMS: '/api=http://127.0.0.1:9',
    LOG_LEVEL: 'info'
  })
  const started = await gateway.waitFor(line => line.event === 'started')
  t.match(started, { version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version, provider: 'oidc', issuer: `${idp.url}/`, store: 'memory', upstreams: ['/api=http://127.0.0.1:9'] })
  t.notOk(JSON.stringify(gateway.lines).includes(DEMO_CLIENT_SECRET), 'no secret in the logs')
  const main = String(started.listening)
  const admin = String(started.admin)
  t.match(main, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/)

  t.equal((await fetch(`${main}/healthz`)).status, 200)
  const ready = await fetch(`${main}/readyz`)
  t.same(await ready.json(), { status: 'ready', checks: { store: 'ok', idp_keys: 'ok' } })
  t.equal((await fetch(`${main}/metrics`)).status, 404)
  const metrics = await fetch(`${admin}/metrics`)
  t.equal(metrics.status, 200)
  t.ok(parseProm(await metrics.text()).some(sample => sample.name === 'process_resident_memory_bytes'))

  // A login held at the IdP's token endpoint while SIGTERM arrives: it must complete.
  const gate = idp.hold('token')
  const login = fetch(`${main}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })
  await gate.waitForCalls(1)
  const adminBefore = parseProm(await (await fetch(`${admin}/metrics`)).text())
  t.equal(value(adminBefore, 'bff_login_attempts_total', { outcome: 'ok' }), 0)
  const exited = gateway.exited
  process.kill(Number(started.pid), 'SIGTERM')
  await gateway.waitFor(line => line.signal === 'SIGTERM')
  await t.rejects(fetch(`${main}/healthz`), 'no new connections once shutting down')
  gate.release()
  const res = await login
  t.equal(res.status, 200, 'the in-flight login completed')
  t.ok(res.headers.get('set-cookie')?.startsWith('__Host-bff-session='))
  t.equal(await exited, 0, 'exit code 0')
  t.ok(gateway.lines.some(line => line.msg === 'shut down'))
})

t.test('node dist/server.js refuses to start when discovery fails, with one line', async t => {
  const gateway = spawn(process.execPath, ['dist/server.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', OIDC_ISSUER: 'http://127.0.0.1:1/realms/x', AUTH0_CLIENT_ID: 'c', AUTH0_CLIENT_SECRET: 's', SESSION_SECRET, IDP_TIMEOUT: '2s' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  gateway.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>(resolve => { gateway.on('exit', resolve) })
  t.equal(code, 1)
  t.match(stderr, /^bff-token-gateway: OIDC_ISSUER: cannot fetch http:\/\/127\.0\.0\.1:1\/realms\/x\/\.well-known\/openid-configuration: unreachable/)
  t.equal(stderr.trim().split('\n').length, 1, 'one line')
})
