import type { FastifyServerOptions } from 'fastify'
import type { Clock } from '../src/clock.js'

/** One user of a realm (an Auth0 "connection"). Passwords are plain text: this is a local test IdP. */
export interface UserRecord {
  user_id: string
  email: string
  email_verified: boolean
  username?: string
  password: string
  name: string
  nickname?: string
  picture?: string
  updated_at?: string
  blocked?: boolean
  /** Custom claims copied as given into the id_token and /userinfo (e.g. `https://example.com/roles`). */
  claims?: Record<string, unknown>
  /** Multi-factor authentication: when `required`, a correct password answers 403 mfa_required. */
  mfa?: UserMfa
}

export type OobChannel = 'sms' | 'voice' | 'email' | 'auth0'

/** An enrolled factor, as `GET /mfa/authenticators` lists it (plus what the IdP needs to check it). */
export interface AuthenticatorRecord {
  /** e.g. `totp|dev_mfa1`, `push|dev_mfa1`, `sms|dev_mfa1`, `recovery-code|dev_mfa1`. */
  id: string
  authenticator_type: 'otp' | 'oob' | 'recovery-code'
  oob_channel?: OobChannel
  name?: string
  /** Unconfirmed enrollments are listed with active: false and cannot be challenged. Default true. */
  active?: boolean
  /** Base32 TOTP secret (otp). */
  secret?: string
  /** The current recovery code (recovery-code); replaced by a new one on use. */
  code?: string
}

export interface UserMfa {
  required: boolean
  authenticators: AuthenticatorRecord[]
}

export interface RealmRecord {
  name: string
  users: UserRecord[]
}

/** The parsed content of `users.json`. */
export interface DirectoryFile {
  realms: RealmRecord[]
}

export type TokenEndpointAuthMethod = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt' | 'none'

export interface ClientRecord {
  client_id: string
  client_secret?: string
  token_endpoint_auth_method: TokenEndpointAuthMethod
  /** SPKI PEM of the client's public key, for private_key_jwt (RS256, RS384, PS256). */
  public_key_pem?: string
  id_token_signed_response_alg?: 'RS256' | 'HS256'
  is_token_endpoint_ip_header_trusted?: boolean
  /** Default: password, password-realm, refresh_token. */
  grant_types?: string[]
}

/** The parsed content of `clients.json`. */
export interface ClientsFile {
  clients: ClientRecord[]
}

export interface RefreshTokenOptions {
  /** Rotating refresh tokens (default true). */
  rotation?: boolean
  /** Overlap period in seconds during which the previous token may be exchanged again (default 0). */
  leewaySec?: number
  /** Absolute lifetime in seconds, fixed at family creation (default 2_592_000). */
  absoluteLifetimeSec?: number
  /** Idle lifetime in seconds, renewed on every exchange (default 2_592_000). */
  idleLifetimeSec?: number
}

export interface RateLimitOptions {
  /** Bucket size. */
  max: number
  /** Seconds for a full refill. */
  windowSec: number
}

export interface IdpOptions {
  clock?: Clock
  users?: DirectoryFile
  clients?: ClientsFile
  accessTokenTtlSec?: number
  idTokenTtlSec?: number
  refreshToken?: RefreshTokenOptions
  /** Token bucket per refresh-token family, refresh grant only. Off by default. */
  refreshRateLimit?: RateLimitOptions
  defaultRealm?: string
  defaultAudience?: string
  /** Issuer (with trailing slash). `startIdp` sets it from the bound address; `buildIdp` defaults to http://127.0.0.1/. */
  issuer?: string
  /** Mount the `/__idp/*` control routes. */
  testApi?: boolean
  logger?: FastifyServerOptions['logger']
  /** `pool` (default): pre-generated dev keys, fast startup. `generate`: fresh RSA keys (~0.1-0.5 s each). */
  keySource?: 'pool' | 'generate'
  /** MFA settings (see idp/README.md "MFA"). */
  mfa?: MfaOptions
  /** Brute-force protection: failed attempts from one IP for one user before 429 too_many_attempts (default 10; 0 = off). */
  bruteForceThreshold?: number
  /** Where out-of-band messages go (SMS/email binding codes, push prompts); default: the Fastify logger at info. */
  onMessage?: (message: IdpMessage) => void
}

export interface MfaOptions {
  /** mfa_token lifetime, s (default 600: Auth0's MFA tokens live 10 minutes). */
  tokenTtlSec?: number
  /** Polling a push transaction sooner than this after the previous poll answers slow_down, s (default 5). */
  pollIntervalSec?: number
}

/** An out-of-band message the IdP "sends": printed by the standalone server, readable in tests. */
export interface IdpMessage {
  kind: 'sms' | 'voice' | 'email' | 'push'
  userId: string
  oobCode: string
  /** The binding code the user must type (sms, voice, email). */
  bindingCode?: string
  text: string
}

export const GRANT_PASSWORD = 'password'
export const GRANT_PASSWORD_REALM = 'http://auth0.com/oauth/grant-type/password-realm'
export const GRANT_REFRESH = 'refresh_token'
export const GRANT_MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'
export const GRANT_MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob'
export const GRANT_MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'
export const MFA_GRANTS: readonly string[] = [GRANT_MFA_OTP, GRANT_MFA_OOB, GRANT_MFA_RECOVERY_CODE]
export const DEFAULT_GRANT_TYPES: readonly string[] = [GRANT_PASSWORD, GRANT_PASSWORD_REALM, GRANT_REFRESH]
export const DEFAULT_REALM = 'Username-Password-Authentication'
