/**
 * The demo stack: a local Auth0-compatible IdP with demo users, an echo API, and the gateway in front of it on its
 * embedded defaults (memory store), all on 127.0.0.1. Used by `npm run demo` and by tests that need the whole thing.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../app.js'
import { loadConfig, type Env } from '../fastify.config.js'
import { resolveEndpoints } from '../src/oidc/discovery.js'
import { startIdp, type IdpOptions, type RunningIdp } from '../idp/app.js'
import demoPageRoutes from '../routes/demo-page.js'
import { startEchoApi, type RunningEchoApi } from './echo-api.js'

export const DEMO_HOST = '127.0.0.1'
export const DEMO_CLIENT_ID = 'demo-gateway'
export const DEMO_CLIENT_SECRET = 'demo-gateway-secret-0123456789abcdefghijklmnop'
export const DEMO_USERS = [
  { username: 'alice@example.com', password: 'alice-password-1', note: '' },
  { username: 'carol@example.com', password: 'carol-password-1', note: 'blocked: shows access_denied' },
  { username: 'bob@corp.example', password: 'bob-password-1', note: 'realm "employees"' },
  { username: 'mfa@example.com', password: 'mfa-password-1', note: 'second factor: TOTP, push, SMS or recovery code' }
] as const
/** The demo MFA user's factors at the local IdP (idp/users.json). */
export const DEMO_MFA_USER = {
  userId: 'auth0|mfa000000000000000000004',
  totpSecret: 'JBSWY3DPEHPK3PXP',
  /** Its first recovery code; each use replaces it (GET /__idp/mfa/recovery-code/<user id> reads the current one). */
  recoveryCode: 'MFADEMORECOVERY0CODE00001'
} as const

export interface DemoStackOptions {
  /** Gateway port (0 = any free port). */
  port?: number
  idpPort?: number
  apiPort?: number
  /** Lifetime of the IdP's access tokens, seconds. */
  accessTokenTtlSec?: number
  /** Gateway variables on top of the demo defaults (the environment, for `npm run demo`). */
  env?: Env
  idp?: IdpOptions
  /** Serve the demo page at `/` (routes/demo-page.ts). Off unless asked for; `npm run demo` turns it on. */
  demoPage?: boolean
  /** Called with the gateway before it listens (extra routes or hooks). */
  beforeListen?: (gateway: FastifyInstance) => void | Promise<void>
  logStream?: NodeJS.WritableStream
}

export interface DemoStack {
  gateway: FastifyInstance
  idp: RunningIdp
  api: RunningEchoApi
  /** The gateway's origin, e.g. http://127.0.0.1:3000. */
  url: string
  close (): Promise<void>
}

/**
 * The gateway's demo configuration: the demo client at the local IdP, the echo API behind /api, and PUBLIC_ORIGIN set
 * to the two names of the demo address (so a page reached under any other name, DNS rebinding, gets 421).
 */
export function demoEnv (idpUrl: string, apiUrl: string, port: number, env: Env = {}): Env {
  return {
    AUTH0_DOMAIN: idpUrl,
    AUTH0_CLIENT_ID: DEMO_CLIENT_ID,
    AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET,
    AUTH0_REALMS: 'Username-Password-Authentication,employees',
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    UPSTREAMS: `/api=${apiUrl}`,
    LOG_LEVEL: 'info',
    // Any free port, so several stacks (parallel tests) never collide; npm run demo asks for 9091.
    ADMIN_PORT: '0',
    PUBLIC_ORIGIN: `http://${DEMO_HOST}:${port},http://localhost:${port}`,
    // What the caller sets wins: demo mode is a set of defaults, not a lock.
    ...env,
    HOST: DEMO_HOST,
    PORT: String(port)
  }
}

export async function startDemoStack (options: DemoStackOptions = {}): Promise<DemoStack> {
  const idp = await startIdp({ host: DEMO_HOST, port: options.idpPort ?? 0, testApi: true, accessTokenTtlSec: options.accessTokenTtlSec ?? 300, ...options.idp })
  const api = await startEchoApi({ host: DEMO_HOST, port: options.apiPort ?? 0 }).catch(async (err: unknown) => {
    await idp.close()
    throw err
  })
  let gateway: FastifyInstance | undefined
  try {
    // PUBLIC_ORIGIN names the port, so "any free port" is picked before the gateway is built; should another process
    // take it in between, the next free one is tried.
    for (let attempt = 1; ; attempt++) {
      const port = options.port === undefined || options.port === 0 ? await freePort() : options.port
      const config = await resolveEndpoints(loadConfig(demoEnv(idp.url, api.url, port, options.env)))
      gateway = buildApp({ config, ...(options.logStream === undefined ? {} : { logStream: options.logStream }) })
      if (options.demoPage === true) gateway.register(demoPageRoutes)
      await options.beforeListen?.(gateway)
      try {
        await gateway.listen({ host: DEMO_HOST, port: config.server.port })
        break
      } catch (err) {
        const taken = err instanceof Error && 'code' in err && err.code === 'EADDRINUSE'
        if (!taken || port === options.port || attempt === 5) throw err
        await gateway.close()
      }
    }
  } catch (err) {
    await Promise.allSettled([gateway?.close(), api.close(), idp.close()])
    throw err
  }
  const address = gateway.server.address()
  const port = address !== null && typeof address === 'object' ? address.port : 0
  const running = gateway
  return {
    gateway,
    idp,
    api,
    url: `http://${DEMO_HOST}:${port}`,
    async close () { await Promise.allSettled([running.close(), api.close(), idp.close()]) }
  }
}

/** A port nothing listens on right now, on the demo address. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, DEMO_HOST, resolve)
  })
  const address = server.address()
  const port = address !== null && typeof address === 'object' ? address.port : 0
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  return port
}
