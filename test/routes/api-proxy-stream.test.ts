/** The proxy over real HTTP: large bodies both ways with flat memory, server-sent events, WebSockets. */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { connectWebSocket } from '../helpers/websocket.js'

const BODY_BYTES = 100 * 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 'u')
/** The live memory of the whole process (client, gateway and upstream) may grow by this much while 100 MB pass. */
const MAX_GROWTH = 16 * 1024 * 1024

interface Gateway {
  upstream: TestUpstream
  base: string
  cookie: string
}

async function start (t: Test, env: Record<string, string> = {}): Promise<Gateway> {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${upstream.url}`, ...env }) })
  const { cookies } = await login(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const cookie = Object.entries(cookies).map(([name, value]) => `${name}=${value}`).join('; ')
  return { upstream, base: `http://127.0.0.1:${port}`, cookie }
}

/**
 * Live memory (heap + buffers after a full GC) sampled every 8 MB: garbage chunks waiting for a collection would
 * otherwise look like buffering. Whatever the gateway held would show up here, proportional to the bytes passed.
 */
function memoryProbe (): { sample (bytes: number): void, growth (): number, rssGrowth (): number } {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const live = (): number => {
    const usage = process.memoryUsage()
    return usage.heapUsed + usage.arrayBuffers
  }
  const baseline = live()
  const baselineRss = process.memoryUsage().rss
  let sinceGc = 0
  let peak = 0
  let peakRss = 0
  return {
    sample (bytes) {
      sinceGc += bytes
      if (sinceGc < 8 * 1024 * 1024) return
      sinceGc = 0
      // Two passes: the first finalises buffers whose memory the second then finds released.
      gc()
      gc()
      peak = Math.max(peak, live() - baseline)
      peakRss = Math.max(peakRss, process.memoryUsage().rss - baselineRss)
    },
    growth: () => peak,
    rssGrowth: () => peakRss
  }
}

function mb (bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`
}

async function send (url: string, options: { method: string, headers: Record<string, string>, body?: Readable }): Promise<IncomingMessage> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method, headers: options.headers }, resolve)
    req.on('error', reject)
    if (options.body === undefined) req.end()
    else options.body.pipe(req)
  })
}

async function text (res: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of res) body += String(chunk)
  return body
}

t.test('a 100 MB upload streams through with flat memory', async t => {
  const { base, cookie, upstream } = await start(t)
  const probe = memoryProbe()
  let left = BODY_BYTES
  const body = new Readable({
    read () {
      probe.sample(CHUNK.length)
      if (left === 0) {
        this.push(null)
        return
      }
      left -= CHUNK.length
      this.push(CHUNK)
    }
  })
  const res = await send(`${base}/api/upload`, {
    method: 'PUT',
    headers: { cookie, 'x-csrf': '1', 'content-type': 'application/octet-stream', 'content-length': String(BODY_BYTES) },
    body
  })
  t.equal(res.statusCode, 200)
  const seen = JSON.parse(await text(res)) as { bodyBytes: number, headers: Record<string, string> }
  t.equal(seen.bodyBytes, BODY_BYTES, 'every byte arrived')
  t.equal(seen.headers['content-length'], String(BODY_BYTES))
  t.ok(probe.growth() < MAX_GROWTH, `live memory grew by ${mb(probe.growth())} (RSS by ${mb(probe.rssGrowth())})`)
  t.equal(upstream.requests.length, 1)
})

t.test('a chunked upload of another content type streams too (no parser, no body limit)', async t => {
  const { base, cookie } = await start(t)
  const total = 8 * 1024 * 1024
  const res = await send(`${base}/api/upload`, {
    method: 'POST',
    headers: { cookie, 'x-csrf': '1', 'content-type': 'text/plain' },
    body: Readable.from((function * () { for (let sent = 0; sent < total; sent += CHUNK.length) yield CHUNK })())
  })
  t.equal(res.statusCode, 200)
  t.equal((JSON.parse(await text(res)) as { bodyBytes: number }).bodyBytes, total)
})

t.test('a 100 MB download streams through with flat memory', async t => {
  const { base, cookie } = await start(t)
  const probe = memoryProbe()
  const res = await send(`${base}/api/download?bytes=${BODY_BYTES}`, { method: 'GET', headers: { cookie } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-length'], String(BODY_BYTES))
  let received = 0
  for await (const chunk of res) {
    received += (chunk as Buffer).length
    probe.sample((chunk as Buffer).length)
  }
  t.equal(received, BODY_BYTES)
  t.ok(probe.growth() < MAX_GROWTH, `live memory grew by ${mb(probe.growth())} (RSS by ${mb(probe.rssGrowth())})`)
})

t.test('server-sent events reach the client as they are written', async t => {
  const { base, cookie, upstream } = await start(t)
  const res = await send(`${base}/api/events/sse`, { method: 'GET', headers: { cookie, accept: 'text/event-stream' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/event-stream')
  let received = ''
  let gateOpened = false
  for await (const chunk of res) {
    received += String(chunk)
    if (!gateOpened && received.includes('data: first\n\n')) {
      t.notOk(received.includes('second'), 'the first event arrived while the upstream still held the stream open')
      gateOpened = true
      upstream.sseGate.open()
    }
  }
  t.ok(gateOpened)
  t.equal(received, 'data: first\n\ndata: second\n\n')
})

const connect = connectWebSocket

/** Sends one message and returns its echo (proves the upstream leg is open), then closes. */
async function roundTrip (socket: WebSocket | undefined): Promise<string> {
  if (socket === undefined) return 'refused'
  const echoed = new Promise<string>(resolve => socket.once('message', data => { resolve(String(data)) }))
  socket.send('ping')
  const reply = await echoed
  socket.terminate()
  return reply
}

t.test('WebSocket: authenticated by the session cookie and Origin, forwarded with the Bearer token', async t => {
  const { base, cookie, upstream } = await start(t, { ALLOWED_ORIGINS: 'https://app.example.com' })
  const wsBase = base.replace('http:', 'ws:')

  const { socket } = await connect(`${wsBase}/api/chat?room=1`, { cookie: `${cookie}; theme=dark`, origin: base })
  if (socket === undefined) throw new Error('upgrade refused')
  const echoed = new Promise<string>(resolve => socket.once('message', data => { resolve(String(data)) }))
  socket.send('hello')
  t.equal(await echoed, 'hello')
  const handshake = upstream.requests.find(r => r.method === 'UPGRADE')
  t.equal(handshake?.url, '/api/chat?room=1')
  t.match(handshake?.headers.authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
  t.equal(handshake?.headers.cookie, undefined, 'no cookie upstream')
  t.equal(handshake?.headers['x-forwarded-for'], '127.0.0.1')
  t.match(handshake?.headers['x-request-id'], /^req-/)
  const closed = new Promise(resolve => socket.once('close', resolve))
  socket.close()
  await closed

  const listed = await connect(`${wsBase}/api/chat`, { cookie, origin: 'https://app.example.com' })
  t.equal(await roundTrip(listed.socket), 'ping', 'a listed origin may connect')
  const native = await connect(`${wsBase}/api/chat`, { cookie })
  t.equal(await roundTrip(native.socket), 'ping', 'a client without Origin (mobile, server) may connect')

  const before = upstream.requests.length
  t.same(await connect(`${wsBase}/api/chat`, { origin: base }), { status: 401 }, 'no session')
  t.same(await connect(`${wsBase}/api/chat`, { cookie: 'x=1', origin: base }), { status: 401 }, 'no session cookie')
  t.same(await connect(`${wsBase}/api/chat`, { cookie, origin: 'https://evil.example' }), { status: 403 }, 'a cross-site upgrade is refused')
  t.same(await connect(`${wsBase}/elsewhere`, { cookie, origin: base }), { status: 404 }, 'not a proxied prefix')
  t.equal(upstream.requests.length, before, 'refused upgrades never reach the upstream')
})
