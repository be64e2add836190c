import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import type { FastifyError, FastifyInstance } from 'fastify'
import { systemClock } from '../src/clock.js'
import { createCallLog } from './call-log.js'
import { createClientAuthenticator } from './client-auth.js'
import { createClientRegistry, loadClientsFile } from './clients.js'
import type { IdpContext } from './context.js'
import { createControl } from './control.js'
import type { IdpControl } from './control.js'
import { createDirectory, loadDirectoryFile } from './directory.js'
import { OAuthError, invalidRequest, sendOAuthError } from './errors.js'
import { createFaultStore } from './faults.js'
import { createHoldRegistry } from './hold.js'
import { createKeyStore } from './keys.js'
import { createBruteForce, createMfaStore } from './mfa.js'
import { createRateLimiter } from './rate-limit.js'
import { createRefreshStore } from './refresh-tokens.js'
import { controlRoutes } from './routes/control.js'
import { mfaRoutes } from './routes/mfa.js'
import { revokeRoutes } from './routes/revoke.js'
import { tokenRoutes } from './routes/token.js'
import { userinfoRoutes } from './routes/userinfo.js'
import { discoveryRoutes, jwksRoutes } from './routes/well-known.js'
import { createTokenMinter } from './tokens.js'
import type { IdpMessage, IdpOptions } from './types.js'
import { DEFAULT_REALM } from './types.js'

export type { IdpOptions, IdpMessage } from './types.js'
export type { IdpControl } from './control.js'
export type { FaultSpec, Endpoint } from './faults.js'
export type { RecordedCall, IdpStats } from './call-log.js'
export type { HoldGate } from './hold.js'

export const DEFAULT_USERS_FILE = fileURLToPath(new URL('./users.json', import.meta.url))
export const DEFAULT_CLIENTS_FILE = fileURLToPath(new URL('./clients.json', import.meta.url))
export const DEFAULT_ACCESS_TOKEN_TTL_SEC = 300
export const DEFAULT_ID_TOKEN_TTL_SEC = 36_000
export const DEFAULT_REFRESH_LIFETIME_SEC = 2_592_000
export const DEFAULT_MFA_TOKEN_TTL_SEC = 600
export const DEFAULT_MFA_POLL_INTERVAL_SEC = 5
export const DEFAULT_BRUTE_FORCE_THRESHOLD = 10
const MAX_MESSAGES = 100
const DEFAULT_ISSUER = 'http://127.0.0.1/'

export interface Idp extends IdpControl {
  /** The Fastify app (not listening). Use app.inject, or startIdp to listen. */
  app: FastifyInstance
  /** `https://{domain}/` style: origin plus trailing slash. */
  readonly issuer: string
  setIssuer (issuer: string): void
}

export interface RunningIdp extends Idp {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string
  close (): Promise<void>
}

function withTrailingSlash (s: string): string {
  return s.endsWith('/') ? s : `${s}/`
}

function positive (name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!Number.isFinite(v) || v < 0) throw new TypeError(`idp: ${name} must be a non-negative number`)
  return v
}

export async function buildIdp (options: IdpOptions = {}): Promise<Idp> {
  const clock = options.clock ?? systemClock
  let issuer = withTrailingSlash(options.issuer ?? DEFAULT_ISSUER)
  const getIssuer = (): string => issuer
  const rt = options.refreshToken ?? {}
  const log = createCallLog()
  const keys = await createKeyStore(options.keySource ?? 'pool')
  const clients = createClientRegistry(options.clients ?? loadClientsFile(DEFAULT_CLIENTS_FILE))
  const rateLimit = options.refreshRateLimit
  const messages: IdpMessage[] = []
  // Set once the Fastify app exists: the default sink is its logger.
  let logMessage: (message: IdpMessage) => void = () => {}
  const send = (message: IdpMessage): void => {
    messages.push(message)
    if (messages.length > MAX_MESSAGES) messages.splice(0, messages.length - MAX_MESSAGES)
    if (options.onMessage !== undefined) options.onMessage(message)
    else logMessage(message)
  }

  const ctx: IdpContext = {
    clock,
    settings: {
      accessTokenTtlSec: positive('accessTokenTtlSec', options.accessTokenTtlSec, DEFAULT_ACCESS_TOKEN_TTL_SEC),
      idTokenTtlSec: positive('idTokenTtlSec', options.idTokenTtlSec, DEFAULT_ID_TOKEN_TTL_SEC),
      defaultRealm: options.defaultRealm ?? DEFAULT_REALM,
      defaultAudience: options.defaultAudience,
      mfaPollIntervalSec: positive('mfa.pollIntervalSec', options.mfa?.pollIntervalSec, DEFAULT_MFA_POLL_INTERVAL_SEC)
    },
    directory: createDirectory(options.users ?? loadDirectoryFile(DEFAULT_USERS_FILE)),
    clients,
    keys,
    minter: createTokenMinter({
      keys,
      clock,
      issuer: getIssuer,
      accessTokenTtlSec: positive('accessTokenTtlSec', options.accessTokenTtlSec, DEFAULT_ACCESS_TOKEN_TTL_SEC),
      idTokenTtlSec: positive('idTokenTtlSec', options.idTokenTtlSec, DEFAULT_ID_TOKEN_TTL_SEC)
    }),
    refresh: createRefreshStore({
      clock,
      policy: {
        rotation: rt.rotation ?? true,
        leewaySec: positive('refreshToken.leewaySec', rt.leewaySec, 0),
        absoluteLifetimeSec: positive('refreshToken.absoluteLifetimeSec', rt.absoluteLifetimeSec, DEFAULT_REFRESH_LIFETIME_SEC),
        idleLifetimeSec: positive('refreshToken.idleLifetimeSec', rt.idleLifetimeSec, DEFAULT_REFRESH_LIFETIME_SEC)
      },
      onReuse: () => { log.stats.reuseDetections += 1 }
    }),
    refreshRateLimiter: rateLimit === undefined
      ? undefined
      : createRateLimiter({ clock, max: positive('refreshRateLimit.max', rateLimit.max, 0), windowSec: positive('refreshRateLimit.windowSec', rateLimit.windowSec, 0) }),
    authenticator: createClientAuthenticator({
      clients,
      clock,
      audiences: () => [issuer, `${issuer}oauth/token`, `${issuer}oauth/revoke`]
    }),
    faults: createFaultStore(),
    holds: createHoldRegistry(),
    log,
    issuer: getIssuer,
    calls: new WeakMap(),
    mfa: createMfaStore({ clock, tokenTtlSec: positive('mfa.tokenTtlSec', options.mfa?.tokenTtlSec, DEFAULT_MFA_TOKEN_TTL_SEC), send }),
    bruteForce: createBruteForce(positive('bruteForceThreshold', options.bruteForceThreshold, DEFAULT_BRUTE_FORCE_THRESHOLD))
  }

  // A development and test server: closing it drops every connection at once, so a client that gave up on a slow
  // answer (a timeout test) cannot hold the process open for the keep-alive timeout.
  const app = Fastify({ logger: options.logger ?? false, forceCloseConnections: true })
  logMessage = message => { app.log.info({ mfa: message.kind, userId: message.userId }, `idp: ${message.text}`) }
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))))
  })
  app.setErrorHandler((err: FastifyError | OAuthError, request, reply) => {
    if (err instanceof OAuthError) return sendOAuthError(reply, err)
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      return sendOAuthError(reply, invalidRequest(err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'Unsupported content type; use application/x-www-form-urlencoded or application/json.'
        : 'Malformed request body.'))
    }
    request.log.error({ err }, 'idp: unexpected error')
    return sendOAuthError(reply, new OAuthError(500, 'server_error', 'Internal error.'))
  })
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ error: 'not_found', error_description: 'Not Found' }))

  const control = createControl(ctx, log, messages)
  await app.register(tokenRoutes, { ctx })
  await app.register(mfaRoutes, { ctx })
  await app.register(revokeRoutes, { ctx })
  await app.register(userinfoRoutes, { ctx })
  await app.register(jwksRoutes, { ctx })
  await app.register(discoveryRoutes, { ctx })
  if (options.testApi === true) await app.register(controlRoutes, { control })
  app.addHook('onClose', async () => { ctx.holds.releaseAll() })

  return {
    ...control,
    app,
    get issuer () { return issuer },
    setIssuer (next: string) { issuer = withTrailingSlash(next) }
  }
}

function originOf (address: AddressInfo, host: string): string {
  const wildcard = host === '0.0.0.0' || host === '::'
  const name = wildcard ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `http://${name}:${address.port}`
}

/** Builds the IdP and listens (default 127.0.0.1, port 0). The issuer becomes the bound origin plus '/'. */
export async function startIdp (options: IdpOptions & { host?: string, port?: number } = {}): Promise<RunningIdp> {
  const host = options.host ?? '127.0.0.1'
  const idp = await buildIdp(options)
  await idp.app.listen({ host, port: options.port ?? 0 })
  const address = idp.app.server.address()
  /* c8 ignore next - a TCP listen always yields an AddressInfo */
  if (address === null || typeof address === 'string') throw new Error('idp: unexpected listen address')
  const url = originOf(address, host)
  if (options.issuer === undefined) idp.setIssuer(`${url}/`)
  // Object.assign keeps idp's live `issuer` getter (it only copies the two new members onto it).
  return Object.assign(idp, { url, close: async () => { await idp.app.close() } })
}
