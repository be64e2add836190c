/**
 * SIGTERM during load drops no in-flight request (issue #10). test/ops/container.test.ts covers one held login
 * against `node dist/server.js`; this runs `node --import tsx server.ts` with 40 requests in flight at once (10 logins
 * held at the IdP's token endpoint, 30 proxied API calls held at the upstream), sends SIGTERM, then lets them all
 * finish: every one answers 200, new connections are refused meanwhile, and the process exits 0.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ALICE, startTestIdp } from '../helpers/gateway.js'
import { startGatewayProcess } from '../helpers/gateway-process.js'
import { createGate } from '../helpers/upstream.js'
const LOGINS = 10
const API_CALLS = 30

t.test('SIGTERM with 40 requests in flight: all 40 answer 200, then exit 0', async t => {
  const idp = await startTestIdp(t)

  // An upstream that holds every call until the gate opens.
  const held: ServerResponse[] = []
  const arrived: Array<() => void> = []
  const gate = createGate()
  const upstream = createServer((req, res) => {
    req.resume()
    held.push(res)
    for (const notify of arrived.splice(0)) notify()
    void gate.opened.then(() => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}') })
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { gate.open(); upstream.closeAllConnections(); await new Promise<void>(resolve => upstream.close(() => { resolve() })) })
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

  const { lines, waitFor, exited } = startGatewayProcess(t, idp, {
    UPSTREAMS: `/api=${upstreamUrl}`,
    LOG_LEVEL: 'info',
    LOGIN_RATE_LIMIT_IP_USER: 'off',
    LOGIN_RATE_LIMIT_USER: 'off'
  })

  const started = await waitFor(line => line.event === 'started')
  const base = String(started.listening)
  const post = async (): Promise<Response> => await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })

  // Five sessions for the API calls, made before the load.
  const cookies: string[] = []
  for (let i = 0; i < 5; i++) {
    const res = await post()
    t.equal(res.status, 200)
    cookies.push((res.headers.get('set-cookie') ?? '').split(';', 1)[0] ?? '')
  }

  // The load: 10 logins held at the IdP, 30 API calls held at the upstream.
  const idpGate = idp.hold('token')
  const inFlight: Array<Promise<number>> = []
  for (let i = 0; i < LOGINS; i++) inFlight.push(post().then(res => res.status))
  for (let i = 0; i < API_CALLS; i++) {
    inFlight.push(fetch(`${base}/api/orders/${i}`, { headers: { cookie: cookies[i % cookies.length] ?? '' } }).then(async res => { await res.arrayBuffer(); return res.status }))
  }
  await idpGate.waitForCalls(LOGINS)
  while (held.length < API_CALLS) await new Promise<void>(resolve => { arrived.push(resolve) })

  process.kill(Number(started.pid), 'SIGTERM')
  await waitFor(line => line.signal === 'SIGTERM')
  await t.rejects(fetch(`${base}/healthz`), 'no new connections once shutting down')
  idpGate.release()
  gate.open()

  const statuses = await Promise.all(inFlight)
  t.same(statuses, Array.from({ length: LOGINS + API_CALLS }, () => 200), 'every in-flight request answered 200')
  t.equal(await exited, 0, 'exit code 0')
  t.ok(lines.some(line => line.msg === 'shut down'))
})
