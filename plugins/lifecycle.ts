import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** How often a closing app looks whether the background refreshes have finished. */
const DRAIN_POLL_MS = 10

/**
 * Graceful close, the part that lives inside the app (server.ts owns the signals and the deadline):
 *  - while closing, every answered request's connection is closed once idle, so kept-alive clients do not hold the
 *    server open until their keep-alive timeout (`app.close()` only closes the connections idle when it starts);
 *  - after the server has stopped and its in-flight requests are answered, background refreshes still running get
 *    until SHUTDOWN_TIMEOUT to store their new tokens, before the store closes (this onClose runs before the
 *    sessions plugin's, hooks run last-registered first).
 */
async function lifecyclePlugin (fastify: FastifyInstance): Promise<void> {
  let closing = false
  fastify.addHook('preClose', async () => { closing = true })
  fastify.addHook('onResponse', function closeWhenIdle (_request, _reply, done) {
    if (closing) setImmediate(() => { fastify.server.closeIdleConnections() })
    done()
  })
  fastify.addHook('onClose', async () => {
    const deadline = Date.now() + fastify.config.server.shutdownTimeoutMs
    if (fastify.refresher.inflight === 0) return
    fastify.log.info({ refreshes: fastify.refresher.inflight }, 'waiting for refreshes in flight')
    while (fastify.refresher.inflight > 0 && Date.now() < deadline) await sleep(DRAIN_POLL_MS)
  })
}

export default fp(lifecyclePlugin, { fastify: '5.x', name: 'bff-lifecycle', dependencies: ['bff-config', 'bff-sessions', 'bff-refresh'] })
