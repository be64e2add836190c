/**
 * LOG_BUFFER=on, against the real process (`node --import tsx server.ts`): lines are held back but not lost. The
 * startup line is out at once, a login's lines arrive within the periodic flush (waited for, not slept on), and the
 * last line before exit, written after the buffer's last periodic flush, is flushed as the process exits.
 */
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ALICE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SESSION_SECRET, startTestIdp } from '../helpers/gateway.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

t.test('LOG_BUFFER=on: the startup line at once, a login within a second, the shutdown line at exit', async t => {
  const idp = await startTestIdp(t)
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      AUTH0_DOMAIN: idp.url,
      AUTH0_CLIENT_ID: DEMO_CLIENT_ID,
      AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET,
      SESSION_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: 'off',
      LOG_LEVEL: 'info',
      LOG_BUFFER: 'on'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  const lines: Array<Record<string, unknown>> = []
  const waiters: Array<{ test: (line: Record<string, unknown>) => boolean, resolve: (line: Record<string, unknown>) => void }> = []
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() ?? ''
    for (const part of parts) {
      const line = JSON.parse(part) as Record<string, unknown>
      lines.push(line)
      for (const w of waiters.filter(w => w.test(line))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line) }
    }
  })
  const waitFor = async (test: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
    lines.find(test) ?? await new Promise(resolve => { waiters.push({ test, resolve }) })

  const started = await waitFor(line => line.event === 'started')
  const login = await fetch(`${String(started.listening)}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })
  t.equal(login.status, 200)
  const succeeded = await waitFor(line => line.event === 'login' && line.outcome === 'ok')
  t.equal(succeeded.level, 30, 'the login line arrives without any other traffic (periodic flush)')
  await waitFor(line => line.msg === 'request completed' && (line.res as { statusCode?: number } | undefined)?.statusCode === 200)

  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.ok(partial === '', 'no line cut short')
  t.ok(lines.some(line => line.msg === 'shut down'), 'the last line, written just before exit, was flushed at exit')
  t.notOk(JSON.stringify(lines).includes(ALICE.password), 'no password in the lines')
})
