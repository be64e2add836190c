import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Clock } from '../src/clock.js'
import { createMemoryStore } from '../src/session/memory-store.js'
import type { SessionStore } from '../src/session/session-store.js'
import { createSessions, type Sessions } from '../src/session/sessions.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionStore: SessionStore
    sessions: Sessions
  }
}

export interface SessionsPluginOptions {
  clock: Clock
  /** A store to use instead of the configured one (tests, embedding). */
  store?: SessionStore | undefined
}

/** Chooses the session store (an injected one, else the bounded memory store) and the session lifecycle on top. */
async function sessionsPlugin (fastify: FastifyInstance, opts: SessionsPluginOptions): Promise<void> {
  const { session } = fastify.config
  const store = opts.store ?? createMemoryStore({
    maxEntries: session.maxEntries,
    onEvict: () => { fastify.log.info('session store at its bound (SESSION_MAX_ENTRIES): least recently used session evicted') }
  })
  fastify.decorate('sessionStore', store)
  fastify.decorate('sessions', createSessions({
    store,
    clock: opts.clock,
    idleTimeoutMs: session.idleTimeoutMs,
    absoluteTimeoutMs: session.absoluteTimeoutMs
  }))
  fastify.addHook('onClose', async () => { await store.close() })
}

export default fp(sessionsPlugin, { fastify: '5.x', name: 'bff-sessions', dependencies: ['bff-config'] })
