/**
 * A small API for the demo (and tests) to put behind the gateway: every method on every path under /api answers with
 * what it received. The Authorization value and cookies are summarised, not echoed, unless `echoHeaders` is set.
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { decodeJwt } from 'jose'

export interface EchoApiOptions {
  /** Echo the raw headers, Authorization and Cookie included (tests only: never log or show this). */
  echoHeaders?: boolean
}

export interface EchoReply {
  method: string
  path: string
  query: Record<string, string | string[]>
  /** Lower-case names; without authorization and cookie unless the API echoes headers. */
  headers: Record<string, string | string[] | undefined>
  bearer: { present: boolean, expires_at?: string }
  cookies_received: boolean
  body_bytes: number
}

const SECRET_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

/** The access token's expiry, read without verifying (this API only shows what it got). */
function bearerSummary (authorization: string | undefined): EchoReply['bearer'] {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')
  if (match?.[1] === undefined) return { present: false }
  try {
    const { exp } = decodeJwt(match[1])
    return exp === undefined ? { present: true } : { present: true, expires_at: new Date(exp * 1000).toISOString() }
  } catch {
    return { present: true }
  }
}

function queryOf (url: string): EchoReply['query'] {
  const query: EchoReply['query'] = {}
  const index = url.indexOf('?')
  if (index === -1) return query
  for (const [name, value] of new URLSearchParams(url.slice(index + 1))) {
    const previous = query[name]
    query[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  return query
}

export function buildEchoApi (options: EchoApiOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  // Any body is counted and dropped as it streams in: nothing is buffered.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', function (_request, payload, done) {
    let bytes = 0
    payload.on('data', (chunk: Buffer) => { bytes += chunk.length })
    payload.on('end', () => { done(null, bytes) })
    payload.on('error', done)
  })

  function echo (request: FastifyRequest): EchoReply {
    const headers: EchoReply['headers'] = { ...request.headers }
    if (options.echoHeaders !== true) for (const name of SECRET_HEADERS) delete headers[name]
    return {
      method: request.method,
      path: request.url.split('?', 1)[0] ?? '',
      query: queryOf(request.url),
      headers,
      bearer: bearerSummary(request.headers.authorization),
      cookies_received: request.headers.cookie !== undefined,
      body_bytes: typeof request.body === 'number' ? request.body : 0
    }
  }

  app.all('/api', async request => echo(request))
  app.all('/api/*', async request => echo(request))
  return app
}

export interface RunningEchoApi {
  app: FastifyInstance
  /** `http://host:port`, no trailing slash. */
  url: string
  close (): Promise<void>
}

export async function startEchoApi ({ host = '127.0.0.1', port = 0, ...options }: EchoApiOptions & { host?: string, port?: number } = {}): Promise<RunningEchoApi> {
  const app = buildEchoApi(options)
  await app.listen({ host, port })
  const address = app.server.address() as AddressInfo
  const name = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return { app, url: `http://${name}:${address.port}`, close: async () => { await app.close() } }
}
