/**
 * src/http/request-deadline.ts on a bare Node server (no Fastify): which requests it watches, what it does when a
 * body is late, depending on whether a reader registered an abort and whether the response has started.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { GatewayError } from '../../../src/errors.js'
import { guardRequestBodies, hasBody, registerAbort } from '../../../src/http/request-deadline.js'

const TIMEOUT_MS = 200

t.test('hasBody: Transfer-Encoding or a non-zero Content-Length, as HTTP/1.1 frames it', async t => {
  const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage // the one field hasBody reads
  t.equal(hasBody(req({})), false)
  t.equal(hasBody(req({ 'content-length': '0' })), false)
  t.equal(hasBody(req({ 'content-length': '12' })), true)
  t.equal(hasBody(req({ 'transfer-encoding': 'chunked' })), true)
})

async function serve (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void, timeouts: IncomingMessage[]): Promise<number> {
  const server: Server = createServer(handler)
  guardRequestBodies(server, {
    timeoutMs: TIMEOUT_MS,
    respond: res => { res.writeHead(408, { connection: 'close' }).end('late') },
    onTimeout: req => { timeouts.push(req) }
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return (server.address() as AddressInfo).port
}

async function exchange (port: number, request: string): Promise<{ ms: number, text: string }> {
  return await new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    const startedAt = performance.now()
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('error', () => {})
    socket.on('close', () => { resolve({ ms: performance.now() - startedAt, text }) })
    socket.write(request)
  })
}

const STUCK = 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{'

t.test('nobody reads and nothing was answered: `respond` answers, the connection closes', async t => {
  const timeouts: IncomingMessage[] = []
  const port = await serve(t, () => { /* a handler that neither reads nor answers */ }, timeouts)
  const { ms, text } = await exchange(port, STUCK)
  t.match(text, /^HTTP\/1\.1 408 /)
  t.match(text, /late/)
  t.ok(ms >= TIMEOUT_MS - 5, `after ${Math.round(ms)} ms`)
  t.equal(timeouts.length, 1)
})

t.test('a reader registered an abort: it is failed with 408 invalid_request and answers itself', async t => {
  const errors: unknown[] = []
  const port = await serve(t, (req, res) => {
    registerAbort(req, err => {
      errors.push(err)
      res.writeHead(408, { connection: 'close' }).end('from the reader')
    })
  }, [])
  const { text } = await exchange(port, STUCK)
  t.match(text, /from the reader/)
  t.equal(errors.length, 1)
  t.ok(errors[0] instanceof GatewayError)
  t.match(errors[0], { code: 'invalid_request', statusCode: 408 })
})

t.test('answered already: the connection is just closed at the bound', async t => {
  const port = await serve(t, (_req, res) => { res.end('early') }, [])
  const { ms, text } = await exchange(port, STUCK)
  t.match(text, /^HTTP\/1\.1 200 /)
  t.notMatch(text, /408/)
  t.ok(ms >= TIMEOUT_MS - 5, `closed after ${Math.round(ms)} ms`)
})

t.test('a body that arrives in time, or none at all, is left alone (kept alive)', async t => {
  const timeouts: IncomingMessage[] = []
  const port = await serve(t, (req, res) => {
    req.resume()
    req.on('end', () => { res.end('ok') })
  }, timeouts)
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}GET /y HTTP/1.1\r\nHost: a\r\n\r\n')
  await new Promise<void>(resolve => { socket.on('data', () => { if ((text.match(/HTTP\/1\.1 200/g) ?? []).length === 2) resolve() }) })
  // Wait past the bound (a check falls due at a quarter of it): still open, nothing timed out.
  await new Promise(resolve => setTimeout(resolve, 2 * TIMEOUT_MS))
  t.equal(socket.destroyed, false, 'still open')
  t.equal(timeouts.length, 0)
  socket.destroy()
})
