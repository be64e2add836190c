/**
 * Upstream faults the proxy tests do not cover yet (issue #10): down, slow and reset-before-answer are in
 * test/routes/api-proxy.test.ts; here a reset in the middle of a streamed body and a 100 KB response header. After
 * each, the gateway is up (/healthz 200) and the same session's next call works.
 */
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createGate } from '../helpers/upstream.js'
import { assertErrorShape } from './assert.js'

const BODY_BYTES = 1024 * 1024
const SENT_BEFORE_RESET = 64 * 1024

/** An upstream with the two faults, plus /ok. `/mid-reset` opens `resetDone` once it has destroyed the connection. */
const resetDone = createGate()
const sockets = new Set<Socket>()
const upstream = createServer((req, res) => {
  if (req.url === '/api/huge-header') {
    res.setHeader('x-huge', 'h'.repeat(100 * 1024))
    res.setHeader('content-type', 'application/json')
    res.end('{"never":"seen"}')
    return
  }
  if (req.url === '/api/mid-reset') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BODY_BYTES) })
    res.write(Buffer.alloc(SENT_BEFORE_RESET, 'x'), () => {
      req.socket.destroy()
      resetDone.open()
    })
    return
  }
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ ok: true, url: req.url }))
})
upstream.on('connection', socket => {
  sockets.add(socket)
  socket.on('close', () => sockets.delete(socket))
})
await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
t.teardown(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise<void>(resolve => upstream.close(() => { resolve() }))
})
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

const idp = await startTestIdp(t)
const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${upstreamUrl}` }) })
const { cookies } = await login(app)

async function stillServing (t: Test): Promise<void> {
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'the gateway is up')
  const next = await app.inject({ url: '/api/ok', cookies })
  t.equal(next.statusCode, 200, 'the next proxied call works')
  t.same(next.json(), { ok: true, url: '/api/ok' })
}

t.test('a 100 KB response header: 502 upstream_unavailable, and the gateway stays up', async t => {
  const res = await app.inject({ url: '/api/huge-header', cookies })
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'upstream_unavailable')
  assertErrorShape(t, res)
  t.equal(res.headers['x-huge'], undefined, 'the header is not passed on')
  await stillServing(t)
})

t.test('an upstream reset in the middle of the body: the client response is aborted (never a second status), the gateway stays up', async t => {
  // Status and 64 KB are already on their way: the only honest signal left is to abort the client's response.
  await t.rejects(app.inject({ url: '/api/mid-reset', cookies }), { message: /destroyed before completion/ })
  await resetDone.opened
  await stillServing(t)
})
