/**
 * A pass-through HTTP proxy on 127.0.0.1:0 in front of the local IdP, for the faults its own fault API cannot make:
 *   - `truncateNext(path, grantType?)`: the next matching call is forwarded to the IdP (which processes it: a refresh
 *     token is rotated, a token revoked), then the answer is cut: the real status, headers and Content-Length, half
 *     the body, and the connection is destroyed — "closing the connection mid-response".
 *   - `down()` / `up()`: stop listening (connections refused, open ones destroyed), then listen again on the same port.
 * The gateway under test uses the proxy's URL as AUTH0_DOMAIN; the IdP's issuer is set to it as well.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Teardown } from '../helpers/gateway.js'

export interface ChaosProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  truncateNext (path: string, grantType?: string): void
  down (): Promise<void>
  up (): Promise<void>
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'host'])

async function readBody (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function grantTypeOf (body: Buffer, contentType: string | undefined): string | undefined {
  const text = body.toString()
  if ((contentType ?? '').includes('json')) {
    try {
      const parsed: unknown = JSON.parse(text)
      if (typeof parsed === 'object' && parsed !== null && 'grant_type' in parsed && typeof parsed.grant_type === 'string') return parsed.grant_type
    } catch {}
    return undefined
  }
  return new URLSearchParams(text).get('grant_type') ?? undefined
}

export async function startChaosProxy (t: Teardown, target: string): Promise<ChaosProxy> {
  const truncations: Array<{ path: string, grantType: string | undefined }> = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/'
      const grantType = grantTypeOf(body, req.headers['content-type'])
      const index = truncations.findIndex(x => x.path === path && (x.grantType === undefined || x.grantType === grantType))
      const truncate = index >= 0
      if (truncate) truncations.splice(index, 1)
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name) && typeof value === 'string') headers[name] = value
      const upstream = await fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(body.length > 0 ? { body: new Uint8Array(body) } : {}) })
      const answer = Buffer.from(await upstream.arrayBuffer())
      const out: Record<string, string> = { 'content-length': String(answer.length) }
      upstream.headers.forEach((value, name) => { if (!HOP_BY_HOP.has(name)) out[name] = value })
      res.writeHead(upstream.status, out)
      if (!truncate) {
        res.end(answer)
        return
      }
      res.write(answer.subarray(0, Math.floor(answer.length / 2)), () => { req.socket.destroy() })
    })().catch(() => { req.socket.destroy() })
  })
  server.on('connection', socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let listening = true

  async function down (): Promise<void> {
    if (!listening) return
    listening = false
    const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
    for (const socket of sockets) socket.destroy()
    await closed
  }
  t.teardown(down)
  return {
    url: `http://127.0.0.1:${port}`,
    truncateNext (path, grantType) { truncations.push({ path, grantType }) },
    down,
    async up () {
      if (listening) return
      await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
      listening = true
    }
  }
}
