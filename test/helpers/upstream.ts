/**
 * A real upstream on 127.0.0.1:0 for proxy tests. Every path answers; the last path segment picks the behaviour:
 *   (anything)        200 JSON echo { method, url, headers, bodyBytes } (body counted and dropped as it streams)
 *   /download?bytes=N N bytes of generated data, written with back-pressure
 *   /sse              an event stream: one event, then waits for `sseGate`, then a second event and the end
 *   /slow             never answers (until the upstream closes)
 *   /reset            destroys the connection without an answer
 *   /status/NNN       answers NNN with a JSON body
 *   /cookies          sets a harmless cookie and every way of planting a gateway cookie (HOSTILE_SET_COOKIES), its own
 *                     CORS headers (HOSTILE_CORS) and `Vary: Accept-Encoding`
 *   /one-cookie       sets one cookie only, named like the gateway's session cookie (a lone Set-Cookie line)
 *   /twice            sends Connection and Vary twice each (two header lines), one Connection line naming x-upstream-hop
 * A Bearer token for which `rejectBearer(token)` is true gets 401 with WWW-Authenticate: Bearer error="invalid_token"
 * (and, like /cookies, `Access-Control-Allow-Origin: *` and a Vary of its own).
 * WebSocket upgrades on any path are accepted and every message is echoed back.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer } from 'ws'
import type { Teardown } from './gateway.js'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  bodyBytes: number
}

export interface Gate {
  open (): void
  readonly opened: Promise<void>
}

export function createGate (): Gate {
  let open!: () => void
  const opened = new Promise<void>(resolve => { open = resolve })
  return { open, opened }
}

export interface TestUpstream {
  /** `http://127.0.0.1:PORT` */
  url: string
  /** Completed requests, in order (WebSocket handshakes included, with method 'UPGRADE'). */
  requests: RecordedRequest[]
  /** Return true to answer 401 invalid_token for this access token. */
  rejectBearer: (token: string) => boolean
  /** The /sse stream's second event waits for this. */
  sseGate: Gate
  /** Resolves when a request reaches the upstream (for tests that must wait for the proxy to forward). */
  nextRequest (): Promise<RecordedRequest>
  close (): Promise<void>
}

const CHUNK = Buffer.alloc(64 * 1024, 'x')

/**
 * What /cookies sets besides `theme=dark`: the session and MFA cookies, another name starting like them, other cases,
 * padding, and nameless cookies that browsers store under the empty name and send back as `__Host-bff-session=…`.
 */
export const HOSTILE_SET_COOKIES = [
  '__Host-bff-session=forged; Path=/; Secure',
  '__Host-bff-session-mfa=forged; Path=/; Secure',
  '__Host-bff-sessionX=forged; Path=/; Secure',
  '__HOST-BFF-SESSION=forged; Path=/; Secure',
  ' \t__Host-bff-session =forged; Path=/; Secure',
  '=__Host-bff-session=forged; Path=/; Secure',
  ' =__Host-bff-session=forged; Path=/; Secure',
  '__Host-bff-session; Path=/; Secure',
  'nameless; Path=/; Secure',
  'no-equals-before; semicolon=__Host-bff-session=forged'
]

/** The CORS answer /cookies and the invalid_token 401 give of their own. */
export const HOSTILE_CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-credentials': 'true',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE',
  'access-control-allow-headers': '*',
  'access-control-allow-private-network': 'true',
  'access-control-max-age': '86400',
  'access-control-expose-headers': 'x-total-count'
}

function bearerOf (request: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1]
}

function download (res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) })
  let left = total
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
      left -= chunk.length
      if (!res.write(chunk)) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}

export async function startUpstream (t: Teardown): Promise<TestUpstream> {
  const requests: RecordedRequest[] = []
  const waiting: Array<(request: RecordedRequest) => void> = []
  const sockets = new Set<Socket>()
  const upstream: TestUpstream = {
    url: '',
    requests,
    rejectBearer: () => false,
    sseGate: createGate(),
    nextRequest: async () => await new Promise(resolve => { waiting.push(resolve) }),
    close: async () => {}
  }

  function record (request: RecordedRequest): void {
    requests.push(request)
    for (const resolve of waiting.splice(0)) resolve(request)
  }

  function answer (req: IncomingMessage, res: ServerResponse, bodyBytes: number): void {
    const url = new URL(req.url ?? '/', 'http://upstream.invalid')
    const last = url.pathname.split('/').filter(part => part !== '')
    const mode = last.at(-1) ?? ''
    const token = bearerOf(req)
    const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes }
    record(recorded)
    if (token !== undefined && upstream.rejectBearer(token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="token revoked"', 'content-type': 'application/json', 'access-control-allow-origin': '*', vary: 'Authorization' })
      res.end(JSON.stringify({ error: 'invalid_token' }))
      return
    }
    if (mode === 'download') return download(res, Number(url.searchParams.get('bytes') ?? '0'))
    if (mode === 'slow') return
    if (mode === 'reset') {
      req.socket.destroy()
      return
    }
    if (mode === 'sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('data: first\n\n')
      void upstream.sseGate.opened.then(() => { res.end('data: second\n\n') })
      return
    }
    if (last.at(-2) === 'status') {
      res.writeHead(Number(mode), { 'content-type': 'application/json', 'x-upstream': 'yes' })
      res.end(JSON.stringify({ upstreamStatus: Number(mode) }))
      return
    }
    if (mode === 'cookies') {
      res.setHeader('set-cookie', ['theme=dark; Path=/', ...HOSTILE_SET_COOKIES])
      for (const [name, value] of Object.entries(HOSTILE_CORS)) res.setHeader(name, value)
      res.setHeader('vary', 'Accept-Encoding')
    }
    if (mode === 'one-cookie') res.setHeader('set-cookie', '__Host-bff-session=forged; Path=/; Secure')
    if (mode === 'twice') {
      res.setHeader('connection', ['keep-alive', 'x-upstream-hop'])
      res.setHeader('x-upstream-hop', 'secret')
      res.setHeader('vary', ['Accept-Encoding', 'Cookie'])
    }
    if (mode === 'hop') {
      // Hop-by-hop headers of the upstream's own connection, one of them named only in Connection.
      res.setHeader('connection', 'keep-alive, x-upstream-hop')
      res.setHeader('x-upstream-hop', 'secret')
      res.setHeader('proxy-connection', 'keep-alive')
      res.setHeader('access-control-allow-credentials', 'true')
      res.setHeader('x-kept', 'yes')
    }
    res.setHeader('content-type', 'application/json')
    res.setHeader('keep-alive', 'timeout=5')
    res.end(JSON.stringify(recorded))
  }

  const server = createServer((req, res) => {
    let bodyBytes = 0
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length })
    req.on('end', () => { answer(req, res, bodyBytes) })
  })
  server.on('connection', socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  const wss = new WebSocketServer({ server })
  wss.on('connection', (socket, request) => {
    record({ method: 'UPGRADE', url: request.url ?? '', headers: request.headers, bodyBytes: 0 })
    socket.on('message', (data, binary) => { socket.send(data, { binary }) })
  })

  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  upstream.url = `http://127.0.0.1:${port}`
  upstream.close = async () => {
    for (const client of wss.clients) client.terminate()
    for (const socket of sockets) socket.destroy()
    await new Promise<void>(resolve => { wss.close(() => { server.close(() => { resolve() }) }) })
  }
  t.teardown(async () => { await upstream.close() })
  return upstream
}

/** An origin where nothing listens: the port was bound, then released. */
export async function closedOrigin (): Promise<string> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return `http://127.0.0.1:${port}`
}
