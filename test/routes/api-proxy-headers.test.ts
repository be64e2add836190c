/**
 * Headers across the proxy (issue #15, items 8–11), end to end: the gateway on 127.0.0.1 against the local IdP and a
 * real upstream that records every header it receives, spoken to over raw HTTP so the client can send any Host.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { STRIPPED_REQUEST_HEADERS } from '../../src/proxy/request-headers.js'
import { COOKIE_NAME, buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { HOSTILE_CORS, HOSTILE_SET_COOKIES, startUpstream, type RecordedRequest, type TestUpstream } from '../helpers/upstream.js'
import { connectWebSocket, type Upgrade } from '../helpers/websocket.js'

const PUBLIC = 'https://gw.example.com'

interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

type Send = (path: string, headers?: Record<string, string>, method?: string, body?: string) => Promise<Answer>

interface Gateway {
  upstream: TestUpstream
  port: number
  /** `name=value` of the session cookie. */
  cookie: string
  /** A request with the Host the gateway was started for. */
  send: Send
  /** The same gateway, spoken to with another Host. */
  at (host: string): Send
  /** What the upstream received for the last request. */
  last (): RecordedRequest | undefined
}

const ALICE_LOGIN = JSON.stringify({ username: 'alice@example.com', password: 'alice-password-1' })

async function start (t: Test, env: Record<string, string> = {}, host = 'gw.example.com'): Promise<Gateway> {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api/billing=${upstream.url}/v1,/api=${upstream.url}`, ...env }) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const at = (hostHeader: string): Send => async (path, headers = {}, method = 'GET', body) => await new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host: hostHeader, ...headers }, setHost: false }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
  const send = at(host)
  const login = await send('/session', { 'content-type': 'application/json', 'x-csrf': '1' }, 'POST', ALICE_LOGIN)
  const line = (login.headers['set-cookie'] ?? []).find(l => l.startsWith(`${COOKIE_NAME}=`))
  if (login.status !== 200 || line === undefined) throw new Error(`login failed: ${login.status} ${login.body}`)
  return { upstream, port, cookie: line.split(';', 1)[0] ?? '', send, at, last: () => upstream.requests.at(-1) }
}

/** One value per default deny-list entry (a prefix gets a name under it), plus the reviewer's examples. */
function spoofedHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const entry of STRIPPED_REQUEST_HEADERS) headers[entry.endsWith('*') ? `${entry.slice(0, -1)}spoofed` : entry] = 'spoofed'
  return {
    ...headers,
    'x-real-ip': '6.6.6.6',
    'true-client-ip': '6.6.6.6',
    'x-client-ip': '6.6.6.6',
    'x-forwarded-port': '8443',
    'x-forwarded-prefix': '/admin',
    'x-forwarded-server': 'evil.example',
    'x-original-url': '/admin',
    'x-rewrite-url': '/admin',
    'x-http-method-override': 'DELETE',
    'x-forwarded-user': 'admin',
    'x-auth-request-email': 'admin@example.com',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'gopher'
  }
}

t.test('item 8: the identity and routing deny-list never reaches the upstream; STRIP_REQUEST_HEADERS adds to it', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC, STRIP_REQUEST_HEADERS: 'x-tenant-id,x-internal-*' })
  const spoofed = spoofedHeaders()
  const res = await gw.send('/api/orders', { cookie: gw.cookie, ...spoofed, 'x-tenant-id': 'other', 'x-internal-role': 'root', 'x-custom': 'kept', 'x-csrf': '1' })
  t.equal(res.status, 200)
  const seen = gw.last()?.headers ?? {}
  for (const name of [...Object.keys(spoofed), 'x-tenant-id', 'x-internal-role']) {
    if (name === 'x-forwarded-host' || name === 'x-forwarded-proto' || name === 'x-forwarded-for') continue
    t.equal(seen[name], undefined, name)
  }
  t.equal(seen['x-forwarded-host'], 'gw.example.com', 'from PUBLIC_ORIGIN, not the client')
  t.equal(seen['x-forwarded-proto'], 'https')
  t.equal(seen['x-forwarded-for'], '127.0.0.1')
  t.equal(seen['x-custom'], 'kept', 'other headers pass')
  t.equal(seen['x-csrf'], '1')
  t.equal(seen.host, new URL(gw.upstream.url).host, 'the upstream gets its own Host')
})

t.test('item 8: X-Forwarded-Host/-Proto without PUBLIC_ORIGIN: dropped, unless the peer is a TRUST_PROXY address', async t => {
  await t.test('untrusted: a forged Host reaches the upstream nowhere', async t => {
    const gw = await start(t, {}, 'evil.example')
    const res = await gw.send('/api/x', { cookie: gw.cookie, 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' })
    t.equal(res.status, 200)
    const seen = gw.last()?.headers ?? {}
    t.equal(seen['x-forwarded-host'], undefined)
    t.equal(seen['x-forwarded-proto'], undefined)
    t.notMatch(JSON.stringify(seen), /evil\.example/)
  })
  await t.test('trusted: the proxy in front says which host and scheme', async t => {
    const gw = await start(t, { TRUST_PROXY: '127.0.0.1' }, 'gateway:3000')
    await gw.send('/api/x', { cookie: gw.cookie, 'x-forwarded-host': 'gw.example.com', 'x-forwarded-proto': 'https' })
    t.equal(gw.last()?.headers['x-forwarded-host'], 'gw.example.com')
    t.equal(gw.last()?.headers['x-forwarded-proto'], 'https')
    await gw.send('/api/x', { cookie: gw.cookie })
    t.equal(gw.last()?.headers['x-forwarded-host'], 'gateway:3000', 'the Host the trusted proxy sent')
    t.equal(gw.last()?.headers['x-forwarded-proto'], 'http')
  })
})

t.test('items 8 and 9: with PUBLIC_ORIGIN a request for another host is 421 and nothing is forwarded', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: `${PUBLIC},http://127.0.0.1:1` })
  const before = gw.upstream.requests.length
  for (const host of ['evil.example', 'gw.example.com.evil.example', '127.0.0.1:2']) {
    const res = await gw.at(host)('/api/x', { cookie: gw.cookie })
    t.equal(res.status, 421, host)
    t.match(JSON.parse(res.body), { statusCode: 421, code: 'misdirected_request' })
  }
  t.equal(gw.upstream.requests.length, before, 'nothing reached the upstream')
  await gw.send('/api/x', { cookie: gw.cookie })
  t.equal(gw.last()?.headers['x-forwarded-host'], 'gw.example.com', 'the public origin\'s host, as listed')
})

t.test('item 8 with TRUST_PROXY and PUBLIC_ORIGIN: the trusted X-Forwarded-Host is checked, the public origin is sent', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC, TRUST_PROXY: '127.0.0.1' })
  const viaProxy = gw.at('gateway:3000')
  t.equal((await viaProxy('/api/x', { cookie: gw.cookie })).status, 421, 'the proxy\'s own Host is not a public one')
  await viaProxy('/api/x', { cookie: gw.cookie, 'x-forwarded-host': 'GW.example.com:443', 'x-forwarded-proto': 'http' })
  t.equal(gw.last()?.headers['x-forwarded-host'], 'gw.example.com', 'written as PUBLIC_ORIGIN has it')
  t.equal(gw.last()?.headers['x-forwarded-proto'], 'https', 'PUBLIC_ORIGIN\'s scheme')
  const before = gw.upstream.requests.length
  t.equal((await viaProxy('/api/x', { cookie: gw.cookie, 'x-forwarded-host': 'evil.example' })).status, 421)
  t.equal(gw.upstream.requests.length, before)
})

t.test('item 9: PUBLIC_ORIGIN and the Origin check across /api, GET /session, header sessions and probes', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC, ALLOWED_ORIGINS: 'https://app.example.com', ALLOW_HEADER_SESSIONS: 'on' })
  t.equal((await gw.send('/api/x', { cookie: gw.cookie, origin: PUBLIC })).status, 200, 'own origin')
  t.equal((await gw.send('/api/x', { cookie: gw.cookie, origin: 'https://app.example.com' })).status, 200, 'listed origin')
  t.equal((await gw.send('/api/x', { cookie: gw.cookie, origin: 'http://gw.example.com' })).status, 403, 'own host, other scheme')
  const session = await gw.send('/session', { cookie: gw.cookie, origin: 'https://evil.example' })
  t.equal(session.status, 403, 'GET /session from a foreign page')
  t.match(JSON.parse(session.body), { code: 'origin_forbidden' })
  t.equal((await gw.send('/session', { cookie: gw.cookie })).status, 200)

  const handleLogin = await gw.send('/session', { 'content-type': 'application/json', 'x-csrf': '1' }, 'POST', JSON.stringify({ ...JSON.parse(ALICE_LOGIN), session_transport: 'header' }))
  const handle = (JSON.parse(handleLogin.body) as { session_handle: string }).session_handle
  t.equal((await gw.send('/api/x', { authorization: `Session ${handle}` }, 'POST')).status, 200, 'a native client (no Origin, no X-CSRF) at the public host')
  t.equal((await gw.at('evil.example')('/session', { 'content-type': 'application/json', 'x-csrf': '1' }, 'POST', ALICE_LOGIN)).status, 421, 'a login at a wrong Host')

  const rebinding = gw.at('evil.example')
  t.equal((await rebinding('/api/x', { cookie: gw.cookie, origin: 'http://evil.example' })).status, 421, 'DNS rebinding: Host and Origin agree, still refused')
  t.equal((await rebinding('/session', { cookie: gw.cookie, origin: 'http://evil.example' })).status, 421)
  t.equal((await rebinding('/api/x', { authorization: `Session ${handle}` }, 'POST')).status, 421, 'a header session at a wrong Host')
  t.equal((await rebinding('/healthz', {})).status, 200, 'probes answer any Host')
  t.equal((await rebinding('/readyz', {})).status, 200)
})

t.test('items 8 and 9 on the WebSocket handshake: Host checked, forwarded headers from PUBLIC_ORIGIN, deny-list moot', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC })
  const connect = async (host: string, headers: Record<string, string>, path = '/api/chat'): Promise<Upgrade> =>
    await connectWebSocket(`ws://127.0.0.1:${gw.port}${path}`, { host, ...headers })
  const before = gw.upstream.requests.length
  t.same(await connect('evil.example', { cookie: gw.cookie, origin: 'http://evil.example' }), { status: 421 }, 'DNS rebinding on an upgrade')
  t.same(await connect('gw.example.com', { cookie: gw.cookie, origin: 'https://evil.example' }), { status: 403 }, 'a foreign Origin')
  t.same(await connect('gw.example.com', { cookie: gw.cookie }, '/api/%252e%252e/chat'), { status: 400 }, 'double-encoded traversal')
  t.equal(gw.upstream.requests.length, before, 'no refused upgrade reached the upstream')
  const { socket } = await connect('gw.example.com', { cookie: gw.cookie, origin: PUBLIC, ...spoofedHeaders() })
  t.ok(socket, 'the public host and origin may connect')
  const handshake = await waitFor(gw.upstream, 'UPGRADE')
  socket?.terminate()
  t.equal(handshake.headers['x-forwarded-host'], 'gw.example.com')
  t.equal(handshake.headers['x-forwarded-proto'], 'https')
  for (const name of Object.keys(spoofedHeaders())) if (!name.startsWith('x-forwarded-')) t.equal(handshake.headers[name], undefined, name)
})

async function waitFor (upstream: TestUpstream, method: string): Promise<RecordedRequest> {
  const found = upstream.requests.find(r => r.method === method)
  if (found !== undefined) return found
  for (;;) {
    const next = await upstream.nextRequest()
    if (next.method === method) return next
  }
}

t.test('item 10: the upstream cannot plant a gateway cookie, nor answer CORS, nor drop Vary: Origin', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC, ALLOWED_ORIGINS: 'https://app.example.com' })
  const listed = await gw.send('/api/cookies', { cookie: gw.cookie, origin: 'https://app.example.com' })
  t.equal(listed.status, 200)
  t.same(listed.headers['set-cookie'], ['theme=dark; Path=/'], 'only the upstream\'s own cookie')
  t.equal(listed.headers['access-control-allow-origin'], 'https://app.example.com', 'the gateway\'s CORS answer, not the upstream\'s *')
  t.equal(listed.headers['access-control-allow-credentials'], 'true')
  for (const name of Object.keys(HOSTILE_CORS)) {
    if (name === 'access-control-allow-origin' || name === 'access-control-allow-credentials' || name === 'access-control-expose-headers') continue
    t.equal(listed.headers[name], undefined, name)
  }
  t.equal(listed.headers['access-control-expose-headers'], 'x-total-count', 'Expose-Headers is the upstream\'s to choose')
  t.equal(listed.headers.vary, 'Accept-Encoding, Origin', 'merged')

  const noOrigin = await gw.send('/api/cookies', { cookie: gw.cookie })
  t.equal(noOrigin.headers['access-control-allow-origin'], undefined, 'no CORS without an Origin: the upstream\'s * is gone')
  t.equal(noOrigin.headers.vary, 'Accept-Encoding, Origin', 'with ALLOWED_ORIGINS every answer varies by Origin')
  t.same(noOrigin.headers['set-cookie'], ['theme=dark; Path=/'])
  t.equal(HOSTILE_SET_COOKIES.length, 10)
})

t.test('item 10: a lone Set-Cookie line (a string, not an array, from the HTTP client) is filtered too', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC })
  const res = await gw.send('/api/one-cookie', { cookie: gw.cookie })
  t.equal(res.status, 200)
  t.same(res.headers['set-cookie'] ?? [], [], 'the planted session cookie is gone')
})

t.test('item 10: headers the upstream sends twice (an array from the HTTP client) are read as one list', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC })
  const res = await gw.send('/api/twice', { cookie: gw.cookie, origin: PUBLIC })
  t.equal(res.status, 200)
  t.equal(res.headers.vary, 'Accept-Encoding, Cookie, Origin')
  t.equal(res.headers['x-upstream-hop'], undefined, 'named in the second Connection line')
})

t.test('item 10 without ALLOWED_ORIGINS: Vary gets Origin only when the request had one', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC })
  t.equal((await gw.send('/api/cookies', { cookie: gw.cookie })).headers.vary, 'Accept-Encoding')
  const own = await gw.send('/api/cookies', { cookie: gw.cookie, origin: PUBLIC })
  t.equal(own.headers.vary, 'Accept-Encoding, Origin')
  t.equal(own.headers['access-control-allow-origin'], undefined)
})

t.test('item 10 on the refresh-and-retry path: the refused answer\'s headers go, the gateway\'s CORS answer stays', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC, ALLOWED_ORIGINS: 'https://app.example.com' })
  let first: string | undefined
  gw.upstream.rejectBearer = token => {
    first ??= token
    return token === first
  }
  const res = await gw.send('/api/me', { cookie: gw.cookie, origin: 'https://app.example.com' })
  t.equal(res.status, 200)
  t.equal(gw.upstream.requests.length, 2, 'refused once, retried once')
  t.equal(res.headers['access-control-allow-origin'], 'https://app.example.com')
  t.equal(res.headers['access-control-allow-credentials'], 'true')
  t.equal(res.headers.vary, 'Origin')
  t.equal(res.headers['www-authenticate'], undefined)

  gw.upstream.rejectBearer = () => true
  const ended = await gw.send('/api/me', { cookie: gw.cookie, origin: 'https://app.example.com' })
  t.equal(ended.status, 503, 'refused again within REFRESH_MIN_INTERVAL: the gateway\'s error')
  t.equal(ended.headers['access-control-allow-origin'], 'https://app.example.com', 'the error is readable by the listed page')
  t.match(ended.headers.vary, /\bOrigin\b/)
})

t.test('item 11: a segment that decodes, once or twice, to . or .., or holds an encoded slash or backslash, is 400', async t => {
  const gw = await start(t, { PUBLIC_ORIGIN: PUBLIC })
  const before = gw.upstream.requests.length
  for (const path of [
    '/api/billing/%252e%252e/secret', '/api/billing/%252E%252E/secret', '/api/billing/.%252e/secret', '/api/billing/%252e/secret',
    '/api/billing/%2e%2e/secret', '/api/billing/..%2f..%2fadmin', '/api/billing/%2e%2e%2fsecret', '/api/billing/a%2fb',
    '/api/billing/a%5cb', '/api/billing/a%252fb', '/api/billing/a%255cb', '/api/billing/x\\..\\..\\secret', '/api/billing/..;/secret',
    '/api/billing/%c0%ae%c0%ae/secret', '/api/billing/%ef%bc%8e%ef%bc%8e/secret', '/api/billing/../secret', '/api/billing/./secret',
    '/api/billing/a%00b', '/api/billing/%2%65%2%65/secret'
  ]) {
    const res = await gw.send(path, { cookie: gw.cookie })
    t.equal(res.status, 400, path)
    t.match(JSON.parse(res.body), { statusCode: 400, code: 'invalid_request' }, path)
  }
  t.equal(gw.upstream.requests.length, before, 'none reached the upstream')
  for (const [path, upstreamUrl] of [
    ['/api/billing/a.pdf', '/v1/a.pdf'], ['/api/billing/.well-known/x', '/v1/.well-known/x'], ['/api/billing/100%25', '/v1/100%25'],
    ['/api/billing/a%20b', '/v1/a%20b'], ['/api/billing/x?next=..%2F%252e%252e', '/v1/x?next=..%2F%252e%252e']
  ] as const) {
    const res = await gw.send(path, { cookie: gw.cookie })
    t.equal(res.status, 200, path)
    t.equal(gw.last()?.url, upstreamUrl, `${path} → ${upstreamUrl}`)
  }
})
