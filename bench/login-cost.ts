/**
 * Login-cost job (its own process): the gateway-side CPU of one login, measured step by step over many iterations
 * against one real token response from the local IdP: parse the token response, verify the id_token (RS256 via the
 * IdP's JWKS, as configured by default), profile claims, create the session (id, key hash, store), sign the cookie.
 */
import { signerFactory } from '@fastify/cookie'
import { systemClock } from '../src/clock.js'
import { createMemoryStore } from '../src/session/memory-store.js'
import { createSessions } from '../src/session/sessions.js'
import { createIdTokenVerifier, profileClaims } from '../src/token/id-token.js'
import { parseTokenResponse, type TokenSet } from '../src/token/token-set.js'
import { startIdp } from '../idp/app.js'
import { announceReady, serveParent } from './lib/ipc.js'
import { BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_SESSION_SECRET, BENCH_USER } from './lib/real-login.js'

export interface LoginCostResult {
  iterations: number
  /** CPU microseconds per login (user + system of this process) for each step, and in total. */
  cpuUsPerLogin: { parse: number, verifyIdToken: number, createSession: number, signCookie: number, total: number }
}

const cpuNow = (): number => { const u = process.cpuUsage(); return u.user + u.system }

async function timed (iterations: number, step: () => Promise<void> | void): Promise<number> {
  const start = cpuNow()
  for (let i = 0; i < iterations; i++) await step()
  return (cpuNow() - start) / iterations
}

async function run (arg: unknown): Promise<LoginCostResult> {
  const iterations = (arg as { iterations: number }).iterations
  const idp = await startIdp({ host: '127.0.0.1', port: 0 })
  try {
    const response = await fetch(`${idp.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password', ...BENCH_USER, scope: 'openid profile email offline_access', client_id: BENCH_CLIENT_ID, client_secret: BENCH_CLIENT_SECRET
      }).toString()
    })
    const text = await response.text()
    if (response.status !== 200) throw new Error(`token endpoint answered ${response.status}: ${text}`)
    const verifier = createIdTokenVerifier({
      issuer: idp.issuer, clientId: BENCH_CLIENT_ID, alg: 'RS256', jwksUrl: `${idp.url}/.well-known/jwks.json`,
      clockToleranceSec: 60, timeoutMs: 5_000, clock: systemClock
    })
    const store = createMemoryStore({ maxEntries: 100_000 })
    const sessions = createSessions({ store, clock: systemClock, idleTimeoutMs: 30 * 60_000, absoluteTimeoutMs: 12 * 3_600_000 })
    const signer = signerFactory([BENCH_SESSION_SECRET], 'sha256')

    const parse = (): TokenSet => parseTokenResponse(JSON.parse(text), 200, Date.now())
    const tokens = parse()
    const idToken = tokens.idToken
    if (idToken === undefined) throw new Error('no id_token in the token response')
    const claims = await verifier.verify(idToken) // fetches the JWKS once
    const newSession = { sub: String(claims.sub), user: profileClaims(claims), accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? '', expiresAt: tokens.expiresAt, lifetimeMs: tokens.lifetimeMs, scope: tokens.scope ?? '' }
    let lastId = ''

    const steps = {
      parse: () => { parse() },
      verifyIdToken: async () => { profileClaims(await verifier.verify(idToken)) },
      createSession: async () => { lastId = (await sessions.create(newSession)).id },
      signCookie: () => { signer.sign(lastId) }
    }
    // Warm every step up (JIT) before timing it.
    for (const step of Object.values(steps)) await timed(Math.min(200, iterations), step)
    await store.close()
    const result = {
      parse: await timed(iterations, steps.parse),
      verifyIdToken: await timed(iterations, steps.verifyIdToken),
      createSession: await timed(iterations, steps.createSession),
      signCookie: await timed(iterations, steps.signCookie)
    }
    return { iterations, cpuUsPerLogin: { ...result, total: result.parse + result.verifyIdToken + result.createSession + result.signCookie } }
  } finally {
    await idp.close()
  }
}

serveParent(async () => {}, { run })
announceReady(0)
