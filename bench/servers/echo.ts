/**
 * The bench's upstream: plain node:http, one small JSON answer for every request, keep-alive. Deliberately not our
 * code (demo/echo-api.ts does more per request), so the limit measured is the proxy's, not the echo's.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { announceReady, serveParent } from '../lib/ipc.js'

const BODY = Buffer.from(JSON.stringify({ ok: true, service: 'bench-echo' }))

const server = createServer((request, response) => {
  request.resume()
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length })
    response.end(BODY)
  })
})
server.keepAliveTimeout = 72_000
server.listen(0, '127.0.0.1', () => { announceReady((server.address() as AddressInfo).port) })
serveParent(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})
