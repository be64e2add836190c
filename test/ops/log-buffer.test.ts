/**
 * LOG_BUFFER=on, against the real process (`node --import tsx server.ts`): lines are held back but not lost. The
 * startup line is out at once, a login's lines arrive within the periodic flush (waited for, not slept on), and the
 * last line before exit, written after the buffer's last periodic flush, is flushed as the process exits.
 */
import t from 'tap'
import { ALICE, startTestIdp } from '../helpers/gateway.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'

t.test('LOG_BUFFER=on: the startup line at once, a login within a second, the shutdown line at exit', async t => {
  const idp = await startTestIdp(t)
  const { child, lines, waitFor, exited, unterminated } = startGatewayProcess(t, idp, { LOG_LEVEL: 'info', LOG_BUFFER: 'on' })

  const started = await waitFor(line => line.event === 'started')
  const login = await fetch(`${String(started.listening)}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })
  t.equal(login.status, 200)
  const succeeded = await waitFor(line => line.event === 'login' && line.outcome === 'ok')
  t.equal(succeeded.level, 30, 'the login line arrives without any other traffic (periodic flush)')
  await waitFor(line => line.msg === 'request completed' && (line.res as { statusCode?: number } | undefined)?.statusCode === 200)

  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.equal(unterminated(), '', 'no line cut short')
  t.ok(lines.some(line => line.msg === 'shut down'), 'the last line, written just before exit, was flushed at exit')
  t.notOk(JSON.stringify(lines).includes(ALICE.password), 'no password in the lines')
})
