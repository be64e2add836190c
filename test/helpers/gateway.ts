import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, type AppDeps } from '../../app.js'
import { loadConfig, type Env } from '../../fastify.config.js'
import { startIdp, type RunningIdp } from '../../idp/app.js'
import type { IdpOptions } from '../../idp/app.js'

/** What tap's `t` offers that the helpers need (kept structural so helpers work with any test object). */
export interface Teardown { teardown (fn: () => unknown): void }

export const DEMO_CLIENT_ID = 'demo-gateway'
export const DEMO_CLIENT_SECRET = 'demo-gateway-secret-0123456789abcdefghijklmnop'
export const SESSION_SECRET = 'test-session-secret-0123456789abcdefghijklmnopqrstuvwxyz'
export const COOKIE_NAME = '__Host-bff-session'
export const ALICE = { username: 'alice@example.com', password: 'alice-password-1' } as const

/** A local IdP on 127.0.0.1, closed when the test ends. */
export async function startTestIdp (t: Teardown, options: IdpOptions = {}): Promise<RunningIdp> {
  const idp = await startIdp({ host: '127.0.0.1', port: 0, ...options })
  t.teardown(async () => { await idp.close() })
  return idp
}

/** The environment a test gateway starts from: the demo client at the given IdP, logs silent. */
export function testEnv (idp: { url: string }, overrides: Env = {}): Env {
  return {
    AUTH0_DOMAIN: idp.url,
    AUTH0_CLIENT_ID: DEMO_CLIENT_ID,
    AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET,
    SESSION_SECRET,
    LOG_LEVEL: 'silent',
    ...overrides
  }
}

export interface LogCapture {
  stream: Writable
  lines (): Array<Record<string, unknown>>
  text (): string
}

/** Collects everything the app logs, as the process would write it. */
export function captureLogs (): LogCapture {
  const chunks: string[] = []
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString())
      callback()
    }
  })
  return {
    stream,
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
  }
}

export interface TestAppOptions {
  env: Env
  deps?: AppDeps
  logs?: LogCapture
}

/** The gateway, ready but not listening (tests use inject); closed when the test ends. */
export async function buildTestApp (t: Teardown, options: TestAppOptions): Promise<FastifyInstance> {
  const app = buildApp({ config: loadConfig(options.env), deps: options.deps ?? {}, logStream: options.logs?.stream })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

export interface LoggedIn {
  res: LightMyRequestResponse
  /** The session cookie, ready for inject({ cookies }). */
  cookies: Record<string, string>
  /** The signed cookie value. */
  value: string
}

/** Logs in through POST /session and returns the session cookie. */
export async function login (app: FastifyInstance, credentials: { username: string, password: string, realm?: string } = ALICE): Promise<LoggedIn> {
  const res = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: credentials })
  const cookie = res.cookies.find(c => c.name === COOKIE_NAME)
  if (res.statusCode !== 200 || cookie === undefined) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return { res, cookies: { [COOKIE_NAME]: cookie.value }, value: cookie.value }
}
