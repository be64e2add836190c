import type { FastifyRequest } from 'fastify'
import type { Clock } from '../src/clock.js'
import type { CallLog, ClientAuthMethodSeen } from './call-log.js'
import type { ClientAuthenticator } from './client-auth.js'
import type { ClientRegistry } from './clients.js'
import type { Directory } from './directory.js'
import type { Endpoint, FaultStore } from './faults.js'
import type { HoldRegistry } from './hold.js'
import type { KeyStore } from './keys.js'
import type { BruteForce, MfaStore } from './mfa.js'
import type { RateLimiter } from './rate-limit.js'
import type { RefreshStore } from './refresh-tokens.js'
import type { IdTokenTamper, TokenMinter } from './tokens.js'

/** What one call to an instrumented endpoint accumulates on its way through (kept out of FastifyRequest's type). */
export interface CallState {
  endpoint: Endpoint
  form: Record<string, string>
  grantType?: string
  clientAuthMethod?: ClientAuthMethodSeen
  forwardedFor?: string
  effectiveIp: string
  tamper?: IdTokenTamper
  recorded: boolean
}

export interface IdpSettings {
  accessTokenTtlSec: number
  idTokenTtlSec: number
  defaultRealm: string
  defaultAudience: string | undefined
  /** Push polls closer together than this answer slow_down, s. */
  mfaPollIntervalSec: number
}

/** Everything stateful of one IdP instance. Created in buildIdp, never module-level. */
export interface IdpContext {
  clock: Clock
  settings: IdpSettings
  directory: Directory
  clients: ClientRegistry
  keys: KeyStore
  minter: TokenMinter
  refresh: RefreshStore
  refreshRateLimiter: RateLimiter | undefined
  authenticator: ClientAuthenticator
  faults: FaultStore
  holds: HoldRegistry
  log: CallLog
  issuer: () => string
  calls: WeakMap<FastifyRequest, CallState>
  mfa: MfaStore
  bruteForce: BruteForce
}

export function callState (ctx: IdpContext, request: FastifyRequest): CallState {
  const state = ctx.calls.get(request)
  /* c8 ignore next - instrument() creates the state in onRequest for every instrumented route */
  if (state === undefined) throw new Error('idp: call state missing')
  return state
}
