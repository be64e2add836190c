/** One real login against a local IdP, in-process: the session record exactly as the gateway stores it. */
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import { startIdp } from '../../idp/app.js'
import type { SessionRecord, SessionStore } from '../../src/session/session-store.js'
import { createMemoryStore } from '../../src/session/memory-store.js'

export const BENCH_CLIENT_ID = 'demo-gateway'
export const BENCH_CLIENT_SECRET = 'demo-gateway-secret-0123456789abcdefghijklmnop'
export const BENCH_SESSION_SECRET = 'bench-session-secret-0123456789abcdefghijklmnopqrstuvwxyz'
export const BENCH_USER = { username: 'alice@example.com', password: 'alice-password-1' } as const
export const COOKIE_NAME = '__Host-bff-session'

/** The gateway environment the bench uses (memory store, production defaults otherwise). */
export function gatewayEnv (idpUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH0_DOMAIN: idpUrl,
    AUTH0_CLIENT_ID: BENCH_CLIENT_ID,
    AUTH0_CLIENT_SECRET: BENCH_CLIENT_SECRET,
    SESSION_SECRET: BENCH_SESSION_SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    // The bench measures the proxy and the cost of a login, not brute-force protection or metrics scraping.
    LOGIN_RATE_LIMIT_IP: 'off',
    LOGIN_RATE_LIMIT_IP_USER: 'off',
    LOGIN_RATE_LIMIT_USER: 'off',
    ADMIN_PORT: 'off',
    ...extra
  }
}

/** Logs in through POST /session (inject) and returns the record the memory store was given. */
export async function captureRealRecord (): Promise<SessionRecord> {
  const idp = await startIdp({ host: '127.0.0.1', port: 0 })
  const inner = createMemoryStore({ maxEntries: 10 })
  let captured: SessionRecord | undefined
  const store: SessionStore = {
    get: async key => await inner.get(key),
    set: async (key, record, ttl) => { captured = record; await inner.set(key, record, ttl) },
    touch: async (key, at, ttl) => { await inner.touch(key, at, ttl) },
    delete: async key => { await inner.delete(key) },
    close: async () => { await inner.close() }
  }
  const app = buildApp({ config: await resolveEndpoints(loadConfig(gatewayEnv(idp.url, { LOG_LEVEL: 'silent' }))), deps: { sessionStore: store } })
  try {
    await app.ready()
    const res = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: BENCH_USER })
    if (res.statusCode !== 200 || captured === undefined) throw new Error(`bench login failed: ${res.statusCode} ${res.body}`)
    return structuredClone(captured)
  } finally {
    await app.close()
    await idp.close()
  }
}
