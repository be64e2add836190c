import { readFileSync } from 'node:fs'
import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, type AppDeps } from '../../app.js'
import { loadConfig, type Env } from '../../fastify.config.js'
import type { Clock } from '../../src/clock.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import { DEFAULT_CLIENTS_FILE, DEFAULT_USERS_FILE, startIdp, type RunningIdp } from '../../idp/app.js'
import type { IdpOptions } from '../../idp/app.js'
import { storageKey } from '../../src/session/session-id.js'
import { recordSecret, recordText, type SecretKind } from './leak-capture.js'

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
  t.teardown(async () => {
    recordIdpSecrets(idp)
    await idp.close()
  })
  return idp
}

/** Leak check: what a client sent the IdP (passwords, client secrets, refresh tokens, MFA codes…) is secret. */
const IDP_FORM_SECRETS: Record<string, SecretKind> = {
  password: 'password',
  client_secret: 'client secret',
  client_assertion: 'client assertion',
  refresh_token: 'refresh token',
  token: 'refresh token',
  mfa_token: 'mfa token',
  oob_code: 'oob code',
  recovery_code: 'recovery code'
}

function recordIdpSecrets (idp: RunningIdp): void {
  for (const call of idp.calls) {
    for (const [field, kind] of Object.entries(IDP_FORM_SECRETS)) recordSecret(kind, call.form[field])
    const authorization = call.headers.authorization
    if (typeof authorization !== 'string') continue
    const [scheme = '', value = ''] = authorization.split(' ', 2)
    if (/^bearer$/i.test(scheme)) recordSecret('access token', value)
    if (/^basic$/i.test(scheme)) {
      const decoded = Buffer.from(value, 'base64').toString()
      recordSecret('client secret', decodeURIComponent(decoded.slice(decoded.indexOf(':') + 1)))
    }
  }
}

/** Leak check: every demo password and client secret is a secret wherever it shows up. */
function recordDemoSecrets (): void {
  const walk = (value: unknown, key: string): void => {
    if (typeof value === 'string') {
      if (key === 'password') recordSecret('password', value)
      if (key === 'client_secret') recordSecret('client secret', value)
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, key)
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) walk(v, k)
    }
  }
  for (const file of [DEFAULT_USERS_FILE, DEFAULT_CLIENTS_FILE]) {
    try { walk(JSON.parse(readFileSync(file, 'utf8')), '') } catch {}
  }
}
recordDemoSecrets()

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
  /** Resolves with the first line, already written or still to come, that matches. */
  waitFor (matches: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
}

/** Collects everything the app logs, as the process would write it. */
export function captureLogs (): LogCapture {
  const chunks: string[] = []
  const written = new EventEmitter()
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString())
      written.emit('chunk')
      callback()
    }
  })
  const lines = (): Array<Record<string, unknown>> => chunks.join('').split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
  return {
    stream,
    text: () => chunks.join(''),
    lines,
    waitFor: async matches => await new Promise(resolve => {
      const check = (): void => {
        const line = lines().find(matches)
        if (line === undefined) return
        written.off('chunk', check)
        resolve(line)
      }
      written.on('chunk', check)
      check()
    })
  }
}

export interface TestAppOptions {
  env: Env
  deps?: AppDeps
  logs?: LogCapture
}

/** Token fields of an IdP answer (token endpoint, MFA API), for the leak check. */
const TOKEN_FIELDS: Record<string, SecretKind> = {
  access_token: 'access token',
  refresh_token: 'refresh token',
  id_token: 'id token',
  mfa_token: 'mfa token',
  oob_code: 'oob code'
  // Not recovery_code: the new recovery code an MFA recovery login returns is handed to the user by design.
}

/** The app's fetch, unchanged, except that every token in a JSON answer is recorded as a secret. */
function recordingFetch (inner: typeof fetch): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init)
    if (typeof res.clone === 'function' && (res.headers.get('content-type') ?? '').includes('json')) {
      res.clone().text().then(text => {
        const body: unknown = JSON.parse(text)
        if (typeof body !== 'object' || body === null) return
        for (const [field, kind] of Object.entries(TOKEN_FIELDS)) recordSecret(kind, (body as Record<string, unknown>)[field])
      }).catch(() => { /* not JSON, or the body failed: nothing to record */ })
    }
    return res
  }
}

/** Log lines go to the test's own capture (if any) and to the leak check. */
function leakLogStream (own: Writable | undefined): Writable {
  return new Writable({
    write (chunk: Buffer | string, encoding, callback) {
      recordText('gateway log', chunk.toString())
      if (own === undefined) callback()
      else own.write(chunk, encoding, callback)
    }
  })
}

function cookieValues (header: unknown, names: Set<string>): string[] {
  const lines = Array.isArray(header) ? header : typeof header === 'string' ? [header] : []
  const values: string[] = []
  for (const line of lines) {
    if (typeof line !== 'string') continue
    const pair = line.split(';', 1)[0] ?? ''
    const eq = pair.indexOf('=')
    if (!names.has(pair.slice(0, eq).trim())) continue
    try { values.push(decodeURIComponent(pair.slice(eq + 1).trim())) } catch {}
  }
  return values
}

function recordSignedSessionId (signed: string): void {
  const dot = signed.lastIndexOf('.')
  if (dot <= 0) return
  const id = signed.slice(0, dot)
  recordSecret('signed cookie', signed)
  recordSecret('session id', id)
  recordSecret('session storage key', storageKey(id))
}

/**
 * Leak check wiring for one test gateway: its configured secrets, the passwords and codes it was sent, every
 * response it gave (headers without Set-Cookie, non-streamed bodies without `session_handle`) and the session ids
 * it handed out in cookies.
 */
function watchForLeaks (app: FastifyInstance, env: Env, cookieName: string): void {
  recordSecret('client secret', env.AUTH0_CLIENT_SECRET)
  for (const secret of (env.SESSION_SECRET ?? '').split(',')) recordSecret('session secret', secret.trim())
  recordSecret('session secret', env.LOG_HASH_KEY)
  for (const key of (env.SESSION_ENCRYPTION_KEY ?? '').split(',')) recordSecret('encryption key', key.trim())
  try { recordSecret('redis password', decodeURIComponent(new URL(env.REDIS_URL ?? '').password)) } catch {}
  const cookieNames = new Set([cookieName, `${cookieName}-mfa`])

  app.addHook('preHandler', async request => {
    const body = request.body
    if (typeof body !== 'object' || body === null) return
    for (const field of ['password', 'otp', 'binding_code', 'recovery_code']) recordSecret(field === 'password' ? 'password' : 'recovery code', (body as Record<string, unknown>)[field])
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    const headers = { ...reply.getHeaders() }
    for (const value of cookieValues(headers['set-cookie'], cookieNames)) recordSignedSessionId(value)
    // A device cookie is no session, but it lifts the per-user login limit: it must not leak either (and its MAC alone).
    for (const value of cookieValues(headers['set-cookie'], new Set([`${cookieName}-device`]))) {
      recordSecret('signed cookie', value)
      recordSecret('signed cookie', value.slice(value.lastIndexOf('.') + 1))
    }
    delete headers['set-cookie']
    let body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : ''
    const handle = /"session_handle":"([^"]+)"/.exec(body)?.[1]
    if (handle !== undefined) {
      recordSignedSessionId(handle)
      body = body.replace(handle, '[session_handle]')
    }
    recordText('gateway response', `${reply.statusCode} ${JSON.stringify(headers)} ${body}`)
    return payload
  })
}

/** The gateway, ready but not listening (tests use inject); closed when the test ends. */
export async function buildTestApp (t: Teardown, options: TestAppOptions): Promise<FastifyInstance> {
  // Leak check: a gateway whose test does not read its logs logs everything (trace) to the leak capture.
  const level = options.env.LOG_LEVEL
  const env = options.logs === undefined && (level === undefined || level === 'silent') ? { ...options.env, LOG_LEVEL: 'trace' } : options.env
  const deps: AppDeps = { ...options.deps, fetch: recordingFetch(options.deps?.fetch ?? globalThis.fetch) }
  const config = await resolveEndpoints(loadConfig(env))
  const app = buildApp({ config, deps, logStream: leakLogStream(options.logs?.stream) })
  watchForLeaks(app, options.env, config.cookie.name)
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

/**
 * A gateway against the test IdP on a test's clock, logging at info into a capture the test reads: the route tests'
 * usual factory. `env` adds to (or overrides) testEnv's.
 */
export function loggedGateway (idp: { url: string }, clock: Clock, defaults: Env = {}) {
  return async function gateway (t: Teardown, env: Env = {}): Promise<{ app: FastifyInstance, logs: LogCapture }> {
    const logs = captureLogs()
    const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'info', ...defaults, ...env }), deps: { clock }, logs })
    return { app, logs }
  }
}
