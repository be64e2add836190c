/**
 * The gateway as production builds it (buildApp + loadConfig from the environment the bench passes), memory store.
 * With BENCH_CLOCK_CONTROL=1 (refresh storm only) its clock is Date.now() plus an offset the bench can advance,
 * so an access token can be made to expire without waiting.
 */
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import type { Clock } from '../../src/clock.js'
import { announceReady, serveParent } from '../lib/ipc.js'

let offsetMs = 0
const clock: Clock | undefined = process.env.BENCH_CLOCK_CONTROL === '1' ? { now: () => Date.now() + offsetMs } : undefined
const config = await resolveEndpoints(loadConfig(process.env))
const app = buildApp({ config, deps: clock === undefined ? {} : { clock } })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
if (address === null || typeof address === 'string') throw new Error('gateway: unexpected address')
announceReady(address.port)
serveParent(async () => { await app.close() }, {
  advanceClock (arg) {
    if (clock === undefined) throw new Error('BENCH_CLOCK_CONTROL is not set')
    offsetMs += Number(arg)
    return offsetMs
  }
})
