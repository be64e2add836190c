/**
 * Hostile requests that app.inject cannot send, over a raw socket to a listening gateway on 127.0.0.1 (issue #10):
 * CR/LF and NUL inside headers, oversize headers and URLs, unknown methods and versions, request-smuggling framing,
 * repeated Authorization and Cookie lines, backslash paths. Each gets a 4xx in the one error shape with a documented
 * code (Node's parser refusals included: plugins/error-handler.ts clientErrorHandler), never a 5xx; afterwards the
 * gateway answers /healthz and a real login works.
 */
import { connect } from 'node:net'
import t from 'tap'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { closedOrigin } from '../helpers/upstream.js'
import { errorShapeProblem } from '../faults/assert.js'

const idp = await startTestIdp(t)
const app = await buildTestApp(t, { env: testEnv(idp, { UPSTREAMS: `/api=${await closedOrigin()}`, ALLOW_HEADER_SESSIONS: 'on' }) })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
const port = typeof address === 'object' && address !== null ? address.port : 0
const session = await login(app)

interface RawResponse { statusCode: number, headers: Record<string, string>, body: string }

/** Sends bytes as they are, reads until the server closes (every request here asks for, or causes, a close). */
async function raw (request: string): Promise<RawResponse> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { out += chunk })
    socket.on('end', () => { resolve(out) })
    socket.on('close', () => { resolve(out) })
    socket.on('error', err => { if (out === '') reject(err); else resolve(out) })
    socket.end(request, 'latin1')
  })
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim()
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) }
}

const CLOSE = 'Host: gateway.test\r\nConnection: close\r\n'
const CASES: Array<[string, string, number, string?]> = [
  ['CR inside a header value', `GET /session HTTP/1.1\r\n${CLOSE}X-A: a\rb\r\n\r\n`, 400],
  ['LF inside a header name', `GET /session HTTP/1.1\r\n${CLOSE}X\nA: 1\r\n\r\n`, 400],
  ['NUL in a header value', `GET /session HTTP/1.1\r\n${CLOSE}X-A: a\u0000b\r\n\r\n`, 400],
  ['a 100 KB header', `GET /session HTTP/1.1\r\n${CLOSE}X-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`, 431],
  ['a 100 KB cookie', `GET /session HTTP/1.1\r\n${CLOSE}Cookie: ${COOKIE_NAME}=${'c'.repeat(100 * 1024)}\r\n\r\n`, 431],
  ['a 100 KB URL', `GET /api/${'u'.repeat(100 * 1024)} HTTP/1.1\r\n${CLOSE}\r\n`, 431],
  ['an unknown method', `BREW /session HTTP/1.1\r\n${CLOSE}\r\n`, 400],
  ['an HTTP version that does not exist', `GET /session HTTP/7.3\r\n${CLOSE}\r\n`, 400],
  ['garbage instead of a request line', `\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003\r\n\r\n`, 400],
  ['Content-Length and Transfer-Encoding together', `POST /session HTTP/1.1\r\n${CLOSE}X-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['two different Content-Lengths', `POST /session HTTP/1.1\r\n${CLOSE}X-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 400],
  ['a broken %-escape in the path', `GET /session/%zz HTTP/1.1\r\n${CLOSE}\r\n`, 400, 'invalid_request'],
  ['a backslash path', `GET /\\\\evil.example/%2e%2e/session HTTP/1.1\r\n${CLOSE}\r\n`, 404, 'not_found'],
  ['a protocol-relative path', `GET //evil.example/api/x HTTP/1.1\r\n${CLOSE}\r\n`, 404, 'not_found'],
  ['an absolute-form URL to another host', `GET http://evil.example/api/orders HTTP/1.1\r\n${CLOSE}\r\n`, 401, 'no_session'],
  ['a forged session handle first, the real one second: the first line counts', `GET /session HTTP/1.1\r\n${CLOSE}Authorization: Session forged.handle\r\nAuthorization: Session ${session.value}\r\n\r\n`, 401, 'no_session'],
  ['a garbage cookie line before the real one', `GET /session HTTP/1.1\r\n${CLOSE}Cookie: ${COOKIE_NAME}=garbage\r\nCookie: ${COOKIE_NAME}=${encodeURIComponent(session.value)}\r\n\r\n`, 401, 'no_session']
]

for (const [name, request, status, code] of CASES) {
  t.test(`${name}: ${status}${code === undefined ? '' : ` ${code}`}, in the error shape`, async t => {
    const res = await raw(request)
    t.equal(res.statusCode, status)
    t.equal(errorShapeProblem(res), undefined, 'the one error shape, a documented code')
    if (code !== undefined) t.equal((JSON.parse(res.body) as { code?: string }).code, code)
  })
}

t.test('repeated Authorization with the real handle first: the server sees only the first line and serves it', async t => {
  const res = await raw(`GET /session HTTP/1.1\r\n${CLOSE}Authorization: Session ${session.value}\r\nAuthorization: Session forged.handle\r\n\r\n`)
  t.equal(res.statusCode, 200)
})

t.test('afterwards: /healthz 200, the session still works, a real login works', async t => {
  const base = `http://127.0.0.1:${port}`
  t.equal((await fetch(`${base}/healthz`)).status, 200)
  t.equal((await fetch(`${base}/session`, { headers: { cookie: `${COOKIE_NAME}=${encodeURIComponent(session.value)}` } })).status, 200)
  const res = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify(ALICE) })
  t.equal(res.status, 200)
})
