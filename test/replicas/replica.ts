/**
 * One gateway replica as its own process, for the multi-replica tests: the real app from the environment, on
 * 127.0.0.1 and a free port (printed as one JSON line on stdout), with a test-only clock control route.
 * Not a test file itself (tap runs *.test.ts only).
 */
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'

/** The replica's clock: the system clock plus an offset the test moves (POST /__test/clock {advanceMs}). */
let offsetMs = 0
const clock = { now: () => Date.now() + offsetMs }

const app = buildApp({ config: await resolveEndpoints(loadConfig(process.env)), deps: { clock }, logStream: process.stderr })
app.post<{ Body: { advanceMs: number } }>('/__test/clock', async request => {
  offsetMs += request.body.advanceMs
  return { offsetMs }
})
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`)
