/**
 * Slow clients over raw sockets (issue #15): headers that never complete, bodies that never complete or trickle,
 * early answers with the body still owed, idle kept-alive connections, uploads that stall or keep moving, and the
 * MAX_CONNECTIONS cap. Small bounds (HEADERS_TIMEOUT 300 ms, REQUEST_TIMEOUT 1.5 s) so nothing waits 30 s; what is
 * asserted is the outcome and the order of events (a bound is never hit early, a stuck connection never shields
 * another), not how fast the machine is.
 */
import { createServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { ALICE, buildTestApp, captureLogs, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { startUpstream } from '../helpers/upstream.js'
import { errorShapeProblem } from '../faults/assert.js'

const HEADERS_TIMEOUT_MS = 300
const REQUEST_TIMEOUT_MS = 1500
const KEEP_ALIVE_TIMEOUT_MS = 300
/** Gaps between the chunks of a body that keeps moving: far below REQUEST_TIMEOUT, however busy the machine. */
const CHUNK_GAP_MS = 100

const idp = await startTestIdp(t)
const upstream = await startUpstream(t)
const logs = captureLogs()
const app = await buildTestApp(t, {
  logs,
  env: testEnv(idp, {
    UPSTREAMS: `/api=${upstream.url}`,
    HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms`,
    REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`,
    KEEP_ALIVE_TIMEOUT: `${KEEP_ALIVE_TIMEOUT_MS}ms`,
    ADMIN_PORT: '0',
    LOG_LEVEL: 'info'
  })
})
const port = await listen(app)
const { value: sessionValue } = await login(app)
const COOKIE = `Cookie: __Host-bff-session=${encodeURIComponent(sessionValue)}\r\n`

async function listen (gateway: FastifyInstance): Promise<number> {
  await gateway.listen({ host: '127.0.0.1', port: 0 })
  return (gateway.server.address() as AddressInfo).port
}

interface Connection {
  socket: Socket
  /** Everything received so far. */
  text (): string
  readonly closed: boolean
  /** Resolves when the gateway has closed the connection, with how long it stayed open and what it sent. */
  readonly done: Promise<{ ms: number, text: string }>
}

/** A raw connection that sends `first` at once (and whatever the test writes later). */
function open (to: number, first = ''): Connection {
  const socket = connect(to, '127.0.0.1')
  const startedAt = performance.now()
  let text = ''
  let closed = false
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.on('error', () => { /* a reset is a close too */ })
  const done = new Promise<{ ms: number, text: string }>(resolve => {
    socket.on('close', () => {
      closed = true
      resolve({ ms: performance.now() - startedAt, text })
    })
  })
  if (first !== '') socket.write(first, 'latin1')
  t.teardown(() => { socket.destroy() })
  return { socket, text: () => text, get closed () { return closed }, done }
}

/** Writes a byte every CHUNK_GAP_MS until stopped (or the socket closes). */
function trickle (connection: Connection, chunk = 'a'): { stop (): void, bytes (): number } {
  let bytes = 0
  const timer = setInterval(() => {
    if (connection.closed) {
      clearInterval(timer)
      return
    }
    connection.socket.write(chunk)
    bytes += chunk.length
  }, CHUNK_GAP_MS)
  return { stop: () => { clearInterval(timer) }, bytes: () => bytes }
}

interface Answer { statusCode: number, headers: Record<string, string>, body: string }

/** The first response in what a connection received. */
function firstAnswer (text: string): Answer {
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  const length = Number(headers['content-length'] ?? text.length)
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4, split + 4 + length) }
}

function assert408 (t: Test, text: string): void {
  const answer = firstAnswer(text)
  t.equal(answer.statusCode, 408)
  t.equal(errorShapeProblem(answer), undefined, 'the one error shape')
  t.equal((JSON.parse(answer.body) as { code?: string }).code, 'invalid_request')
  t.equal(answer.headers.connection, 'close')
}

const LOGIN_HEAD = 'POST /session HTTP/1.1\r\nHost: gateway.test\r\nX-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n'
const UPLOAD_HEAD = `POST /api/upload HTTP/1.1\r\nHost: gateway.test\r\nX-CSRF: 1\r\n${COOKIE}Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`

t.test('headers that never complete: 408 at HEADERS_TIMEOUT, whatever else is open', { timeout: 20_000 }, async t => {
  // Open first, and still open when the later connection is due: a login body that never completes, and an upload
  // that keeps moving. Neither may keep Node's sweep from closing the later one at its own bound.
  const stuckLogin = open(port, `${LOGIN_HEAD}{"username":`)
  const moving = open(port, UPLOAD_HEAD)
  const feed = trickle(moving, '1\r\nu\r\n')
  const partial = open(port, 'GET /session HTTP/1.1\r\nHost: gateway.test\r\n')
  const { ms, text } = await partial.done
  t.comment(`unfinished headers closed after ${Math.round(ms)} ms`)
  assert408(t, text)
  t.ok(ms >= HEADERS_TIMEOUT_MS - 5, 'not before HEADERS_TIMEOUT')
  t.notOk(stuckLogin.closed, 'the stuck login body is still within its own bound')
  t.notOk(moving.closed, 'the moving upload is unaffected')

  // A connection that sends nothing at all is closed the same way.
  const silent = await open(port).done
  t.ok(silent.ms >= HEADERS_TIMEOUT_MS - 5, `a silent connection closed after ${Math.round(silent.ms)} ms, not before HEADERS_TIMEOUT`)
  t.notOk(moving.closed, 'the moving upload is still unaffected')

  // The stuck login gets its 408 in turn.
  const login = await stuckLogin.done
  assert408(t, login.text)
  feed.stop()
  moving.socket.end('0\r\n\r\n')
})

t.test('a login body that never completes: 408 at REQUEST_TIMEOUT, logged, connection closed', { timeout: 20_000 }, async t => {
  const { ms, text } = await open(port, `${LOGIN_HEAD}{"username":"alice@example.com"`).done
  t.comment(`stuck login body closed after ${Math.round(ms)} ms`)
  assert408(t, text)
  t.match(JSON.parse(firstAnswer(text).body), { message: 'The request body took too long to arrive' })
  t.ok(ms >= REQUEST_TIMEOUT_MS - 5, 'not before REQUEST_TIMEOUT')
  const line = await logs.waitFor(entry => entry.event === 'request_timeout' && entry.url === '/session')
  t.match(line, { level: 30, method: 'POST', streamed: false })
})

t.test('a login body that trickles a byte at a time: the bound is the whole body, not the gaps', { timeout: 20_000 }, async t => {
  const connection = open(port, LOGIN_HEAD)
  const feed = trickle(connection, ' ')
  const { ms, text } = await connection.done
  feed.stop()
  assert408(t, text)
  t.ok(ms >= REQUEST_TIMEOUT_MS - 5, `closed after ${Math.round(ms)} ms, having sent ${feed.bytes()} of 200 bytes`)
})

t.test('an early answer with the body still trickling in: the connection is closed at REQUEST_TIMEOUT', { timeout: 20_000 }, async t => {
  // No X-CSRF: 403 at once, before the body is read. The client then sends the 200 bytes it announced a byte at a
  // time, which would keep resetting Node's keep-alive timer for ever.
  const connection = open(port, 'POST /session HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{')
  const feed = trickle(connection, ' ')
  const { ms, text } = await connection.done
  feed.stop()
  t.equal(firstAnswer(text).statusCode, 403)
  t.ok(ms >= REQUEST_TIMEOUT_MS - 5, `closed after ${Math.round(ms)} ms`)
})

/** Resolves once twice REQUEST_TIMEOUT has passed since `startedAt`, or as soon as the connection closes. */
async function twiceTheBound (connection: { readonly closed: boolean }, startedAt: number): Promise<void> {
  await new Promise<void>(resolve => {
    const check = setInterval(() => {
      if (performance.now() - startedAt < 2 * REQUEST_TIMEOUT_MS && !connection.closed) return
      clearInterval(check)
      resolve()
    }, CHUNK_GAP_MS)
  })
}

t.test('a proxied upload that keeps moving runs past REQUEST_TIMEOUT and arrives whole', { timeout: 20_000 }, async t => {
  const connection = open(port, UPLOAD_HEAD)
  const startedAt = performance.now()
  const feed = trickle(connection, '1\r\nu\r\n')
  const upstreamSaw = upstream.nextRequest()
  // Twice the bound of a body that keeps moving, then its end.
  await twiceTheBound(connection, startedAt)
  t.notOk(connection.closed, 'still open after twice REQUEST_TIMEOUT')
  feed.stop()
  connection.socket.write('0\r\n\r\n')
  const recorded = await upstreamSaw
  t.equal(recorded.bodyBytes, feed.bytes() / 6, 'every byte reached the upstream')
  await new Promise<void>(resolve => { connection.socket.once('data', () => { resolve() }) })
  t.equal(firstAnswer(connection.text()).statusCode, 200)
  connection.socket.destroy()
})

t.test('a proxied upload that stops: 408 after REQUEST_TIMEOUT without a byte', { timeout: 20_000 }, async t => {
  const connection = open(port, `${UPLOAD_HEAD}5\r\nhello\r\n`)
  const { ms, text } = await connection.done
  t.comment(`stalled upload closed after ${Math.round(ms)} ms`)
  assert408(t, text)
  t.match(JSON.parse(firstAnswer(text).body), { message: 'The request body stopped arriving' })
  t.ok(ms >= REQUEST_TIMEOUT_MS - 5, 'not before REQUEST_TIMEOUT')
  const line = await logs.waitFor(entry => entry.event === 'request_timeout' && entry.url === '/api/upload')
  t.match(line, { streamed: true })
})

t.test('a proxied upload held up by its upstream (not reading) is not the client\'s pause: no 408', { timeout: 20_000 }, async t => {
  // An upstream that reads nothing for twice REQUEST_TIMEOUT, then everything; the client has sent it all at once.
  let reading = (): void => {}
  const held = new Promise<void>(resolve => { reading = resolve })
  const slowReader = createServer((req, res) => {
    void held.then(() => {
      let bytes = 0
      req.on('data', (chunk: Buffer) => { bytes += chunk.length })
      req.on('end', () => { res.end(JSON.stringify({ bytes })) })
    })
  })
  await new Promise<void>(resolve => { slowReader.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { slowReader.closeAllConnections(); slowReader.close() })
  const gateway = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=http://127.0.0.1:${(slowReader.address() as AddressInfo).port}`, HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms`, REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms` }) })
  const gatewayPort = await listen(gateway)
  const { value } = await login(gateway)
  const body = Buffer.alloc(4 * 1024 * 1024, 'b')
  const connection = open(gatewayPort, `POST /api/upload HTTP/1.1\r\nHost: gateway.test\r\nX-CSRF: 1\r\nCookie: __Host-bff-session=${encodeURIComponent(value)}\r\nContent-Length: ${body.length}\r\n\r\n`)
  connection.socket.write(body)
  const startedAt = performance.now()
  await twiceTheBound(connection, startedAt)
  t.notOk(connection.closed, 'still open after twice REQUEST_TIMEOUT with the upstream not reading')
  reading()
  await new Promise<void>(resolve => { connection.socket.on('data', () => { if (connection.text().includes('}')) resolve() }) })
  const answer = firstAnswer(connection.text())
  t.equal(answer.statusCode, 200)
  t.same(JSON.parse(answer.body), { bytes: body.length }, 'the whole body arrived')
  connection.socket.destroy()
})

t.test('keep-alive: an idle connection closes after KEEP_ALIVE_TIMEOUT; a next request must finish its headers', { timeout: 20_000 }, async t => {
  const idle = open(port, 'GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n')
  const idleClosed = await idle.done
  t.equal(firstAnswer(idleClosed.text).statusCode, 200)
  t.ok(idleClosed.ms >= KEEP_ALIVE_TIMEOUT_MS - 5, `idle kept-alive connection closed after ${Math.round(idleClosed.ms)} ms`)

  const second = open(port, 'GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n')
  await new Promise<void>(resolve => { second.socket.once('data', () => { resolve() }) })
  second.socket.write('GET /session HTTP/1.1\r\nHost: gateway.test\r\n')
  const { text } = await second.done
  assert408(t, text.slice(text.indexOf('HTTP/1.1 408')))
})

t.test('the admin server holds the same bounds: unfinished headers get 408, a body still owed is cut off', { timeout: 20_000 }, async t => {
  const admin = await app.adminServer.started()
  const adminPort = admin?.port ?? 0
  const headers = await open(adminPort, 'GET /metrics HTTP/1.1\r\nHost: admin.test\r\n').done
  assert408(t, headers.text)
  t.ok(headers.ms >= HEADERS_TIMEOUT_MS - 5, `unfinished headers closed after ${Math.round(headers.ms)} ms`)
  // No admin route reads a body: an early 404, then the connection is held only until REQUEST_TIMEOUT.
  const body = await open(adminPort, 'POST /metrics HTTP/1.1\r\nHost: admin.test\r\nContent-Length: 10\r\n\r\n{').done
  t.equal(firstAnswer(body.text).statusCode, 404)
  t.ok(body.ms >= REQUEST_TIMEOUT_MS - 5, `stuck body closed after ${Math.round(body.ms)} ms`)
})

t.test('afterwards the gateway serves: /healthz 200, a real login works', async t => {
  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/healthz`)).status, 200)
  const res = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })
  t.equal(res.status, 200)
})

t.test('MAX_CONNECTIONS: one connection over the cap is closed at once, unanswered; the open ones are served', { timeout: 20_000 }, async t => {
  const cappedLogs = captureLogs()
  const capped = await buildTestApp(t, { logs: cappedLogs, env: testEnv(idp, { MAX_CONNECTIONS: '3', HEADERS_TIMEOUT: '20s', LOG_LEVEL: 'warn' }) })
  const cappedPort = await listen(capped)
  const held = [open(cappedPort), open(cappedPort), open(cappedPort)]
  await until(async () => await connectionCount(capped) === 3)
  const over = await open(cappedPort, 'GET /healthz HTTP/1.1\r\nHost: gateway.test\r\n\r\n').done
  t.equal(over.text, '', 'closed without an answer')
  t.equal(await connectionCount(capped), 3, 'never more than the cap')
  t.match(await cappedLogs.waitFor(line => line.event === 'connections_refused'), { level: 40, maxConnections: 3, refused: 1 })

  held[0]?.socket.write('GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n')
  const served = await held[0]?.done
  t.equal(firstAnswer(served?.text ?? '').statusCode, 200, 'a connection within the cap is served')
  await until(async () => await connectionCount(capped) === 2)
  const next = await open(cappedPort, 'GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n').done
  t.equal(firstAnswer(next.text).statusCode, 200, 'below the cap again: a new connection is served')
  for (const connection of held) connection.socket.destroy()
})

async function connectionCount (gateway: FastifyInstance): Promise<number> {
  return await new Promise((resolve, reject) => {
    gateway.server.getConnections((err, count) => { if (err === null) resolve(count); else reject(err) })
  })
}

/** Waits, one event-loop turn at a time, until the condition holds (the server counts a close a little later). */
async function until (condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise(resolve => setImmediate(resolve))
}
