/**
 * The types of the gateway's configuration (fastify.config.ts reads it from the environment). They live in src/ so
 * src/ modules can name them without importing the top-level config module.
 */
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt'
export type AssertionAlg = 'RS256' | 'RS384' | 'PS256'
export type IdTokenAlg = 'RS256' | 'HS256'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface UpstreamConfig {
  /** Path prefix on the gateway, e.g. `/api/billing`. */
  readonly prefix: string
  /** Origin of the upstream, e.g. `http://billing:9000`. */
  readonly origin: string
  /** What the prefix becomes upstream: the URL's path when one was given, else the prefix itself. */
  readonly rewritePrefix: string
}

/** Everything but the IdP's endpoints: the same before and after discovery. */
export interface ConfigBase {
  readonly server: {
    readonly host: string
    readonly port: number
    /** false, or the addresses/CIDRs of proxies whose X-Forwarded-* headers are believed. */
    readonly trustProxy: false | readonly string[]
    /**
     * PUBLIC_ORIGIN: the origins the gateway is served at (URL.origin form), or empty. When set, a request for another
     * host is refused (421 misdirected_request), the Origin check takes these as the gateway's own, and the proxy's
     * X-Forwarded-Host/-Proto come from them (src/http/public-origin.ts).
     */
    readonly publicOrigins: readonly string[]
    readonly logLevel: LogLevel
    /** ADMIN_PORT: the admin server (/metrics) port on HOST; 0 = any free port; undefined = off. */
    readonly adminPort: number | undefined
    /** SHUTDOWN_TIMEOUT: how long in-flight requests and refreshes get to finish after SIGTERM/SIGINT, ms. */
    readonly shutdownTimeoutMs: number
  }
  readonly session: {
    readonly idleTimeoutMs: number
    readonly absoluteTimeoutMs: number
    readonly maxEntries: number
    /** MAX_SESSIONS_PER_USER: beyond it, a user's oldest session is ended when a new one starts. */
    readonly maxPerUser: number
    /** SESSION_SWEEP_INTERVAL: how often sessions that expired unseen are found, ended and their tokens revoked. */
    readonly sweepIntervalMs: number
  }
  readonly cookie: {
    readonly name: string
    /** Newest first: the first signs, all verify. */
    readonly secrets: readonly string[]
    readonly sameSite: 'strict' | 'lax'
  }
  readonly refresh: {
    readonly skewMs: number
    readonly minIntervalMs: number
  }
  readonly proxy: {
    readonly upstreams: readonly UpstreamConfig[]
    readonly timeoutMs: number
    readonly forwardCookies: readonly string[]
    /** STRIP_REQUEST_HEADERS: lower-case names (`prefix*` for a prefix) removed on top of the default deny-list. */
    readonly stripRequestHeaders: readonly string[]
  }
  readonly csrf: {
    readonly headerName: string
    readonly allowedOrigins: readonly string[]
  }
  /** Where sessions live (SESSION_STORE) and how they are sealed at rest. */
  readonly store: StoreConfig
  /** Login throttling and native-client sessions. */
  readonly login: LoginConfig
  /**
   * LOG_HASH_KEY, or else the first SESSION_SECRET: the secret a key is derived from for the keyed hashes of
   * usernames in logs and Redis throttle keys (src/crypto/identifier-hash.ts).
   */
  readonly logHashKey: string
  /** ADMIN_API, ADMIN_TOKEN: the operators' session API on the admin server (issue #11). */
  readonly admin: AdminApiConfig
  /** GET /session/userinfo (issue #11). */
  readonly userinfo: { readonly cacheTtlMs: number }
  readonly mfa: MfaConfig
  /** How long and how many client connections may stay open (issue #15). */
  readonly connections: ConnectionsConfig
}

/** The IdP settings read from the environment, apart from where its endpoints are. */
export interface IdpSettings {
  /** `auth0` (AUTH0_DOMAIN, fixed Auth0 paths) or `oidc` (OIDC_ISSUER; endpoints from discovery, see src/oidc/discovery.ts). */
  readonly provider: 'auth0' | 'oidc'
  /** Auth0-only extras: password-realm, auth0-forwarded-for, the MFA API. Always on with auth0; OIDC_AUTH0_EXTENSIONS=on with oidc. */
  readonly auth0Extensions: boolean
  readonly clientId: string
  readonly clientSecret: string | undefined
  readonly authMethod: ClientAuthMethod
  readonly assertionKey: { readonly pem: string, readonly alg: AssertionAlg } | undefined
  readonly idTokenAlg: IdTokenAlg
  readonly audience: string | undefined
  readonly scope: string
  readonly realm: string | undefined
  /** Realms a client may name per request (AUTH0_REALM is always allowed). */
  readonly realms: readonly string[]
  readonly timeoutMs: number
  readonly clockToleranceSec: number
}

/** Where the IdP answers: fixed paths under AUTH0_DOMAIN, or OIDC_ISSUER's discovery document (src/oidc/discovery.ts). */
export interface IdpEndpoints {
  /** The issuer id_tokens must carry: the tenant origin with AUTH0_DOMAIN, the document's `issuer`, exactly, with OIDC_ISSUER. */
  readonly issuer: string
  readonly tokenUrl: string
  /** '' when the IdP publishes no revocation endpoint (logout then only ends the session). */
  readonly revokeUrl: string
  readonly userinfoUrl: string
  readonly jwksUrl: string
}

/** The IdP as buildApp needs it: every endpoint known. */
export interface IdpConfig extends IdpSettings, IdpEndpoints {}

/** OIDC_ISSUER before discovery: the issuer as configured, the endpoints not yet known (no tokenUrl to call). */
export interface PendingIdpConfig extends IdpSettings {
  readonly provider: 'oidc'
  /** OIDC_ISSUER as configured; discovery replaces it with the document's `issuer`. */
  readonly issuer: string
  readonly endpoints: 'pending'
}

/** The configuration buildApp takes: endpoints resolved (`await resolveEndpoints(loadConfig(env))`). */
export interface AppConfig extends ConfigBase {
  readonly idp: IdpConfig
}

/**
 * What loadConfig reads: with OIDC_ISSUER the endpoints are still pending (src/oidc/discovery.ts resolves them), so
 * the compiler keeps it from buildApp.
 */
export interface LoadedConfig extends ConfigBase {
  readonly idp: IdpConfig | PendingIdpConfig
}

export interface MfaConfig {
  /** MFA_POLL_INTERVAL: how long a client waits between polls of a push (the `interval` it is told), whole seconds. */
  readonly pollIntervalSec: number
  /** MFA_PENDING_MAX_ENTRIES: the bound of the pending-login LRU in memory mode (its own, apart from the sessions'). */
  readonly pendingMaxEntries: number
  /** MFA_CHALLENGE_RATE_LIMIT_AUTHENTICATOR: challenges (messages sent) per user and authenticator. */
  readonly challengePerAuthenticator: RateLimitSetting | undefined
  /** MFA_CHALLENGE_RATE_LIMIT_LOGIN: challenges per pending login. */
  readonly challengePerLogin: RateLimitSetting | undefined
  /** MFA_CHALLENGE_RATE_LIMIT_USER: challenges per user, across pending logins and IPs. */
  readonly challengePerUser: RateLimitSetting | undefined
  /** MFA_WRONG_CODE_RATE_LIMIT_USER: wrong codes per user, across pending logins and IPs. */
  readonly wrongCodesPerUser: RateLimitSetting | undefined
  /** MFA_MAX_WRONG_CODES: the wrong codes after which a pending login is ended. */
  readonly maxWrongCodes: number
}

export interface ConnectionsConfig {
  /** HEADERS_TIMEOUT: a request's headers must have arrived within this from its first byte, ms (Node's headersTimeout). */
  readonly headersTimeoutMs: number
  /**
   * REQUEST_TIMEOUT, ms: a body the gateway reads whole must have arrived within this after its headers; a body
   * streamed to an upstream may take longer but never pause this long (src/http/request-deadline.ts).
   */
  readonly requestTimeoutMs: number
  /** KEEP_ALIVE_TIMEOUT: an idle kept-alive connection is closed after this, ms. */
  readonly keepAliveTimeoutMs: number
  /** MAX_CONNECTIONS: open client connections on the public port at most; one more is closed as it arrives. */
  readonly maxConnections: number
}

export interface AdminApiConfig {
  /** ADMIN_API=on: /admin/users/:sub/sessions on the admin server (ADMIN_PORT). Default off. */
  readonly api: boolean
  /** ADMIN_TOKEN: the bearer secret the admin API requires; set (at least 32 characters) whenever the API is on. */
  readonly token: string | undefined
}

/** A fixed-window limit: at most `max` requests per `windowMs`. */
export interface RateLimitSetting {
  readonly max: number
  readonly windowMs: number
}

export interface LoginConfig {
  /** LOGIN_RATE_LIMIT_IP: POST /session per client IP. */
  readonly perIp: RateLimitSetting | undefined
  /** LOGIN_RATE_LIMIT_IP_USER: POST /session per (client IP, normalised username). */
  readonly perIpUser: RateLimitSetting | undefined
  /** LOGIN_RATE_LIMIT_USER: failed sign-ins per normalised username across IPs, from clients without a device cookie. */
  readonly perUser: RateLimitSetting | undefined
  /** LOGIN_RATE_LIMIT_DEVICE: failed sign-ins per device cookie; off = no device cookies at all. */
  readonly perDevice: RateLimitSetting | undefined
  /** DEVICE_COOKIE_LIFETIME: how long a device cookie is honoured after the sign-in that issued it, ms. */
  readonly deviceCookieLifetimeMs: number
  /** LOGIN_RATE_LIMIT_MFA: POST /session/mfa per (client IP, pending login). */
  readonly perMfaLogin: RateLimitSetting | undefined
  /** ALLOW_HEADER_SESSIONS: POST /session may ask for `session_transport: "header"`. */
  readonly headerSessions: boolean
}

export interface RedisConfig {
  /** REDIS_URL: redis[s]://[[user]:password@]host[:port][/db]; with Sentinel or Cluster, only credentials, db and TLS are taken from it. */
  readonly url: string | undefined
  /** REDIS_KEY_PREFIX, default `bff:`. */
  readonly keyPrefix: string
  /** REDIS_TIMEOUT: connect and per-command timeout, ms. */
  readonly timeoutMs: number
  /** REDIS_SENTINELS (host:port list) and REDIS_SENTINEL_MASTER: connect through Sentinel. */
  readonly sentinels: ReadonlyArray<{ readonly host: string, readonly port: number }>
  readonly sentinelMaster: string | undefined
  /** REDIS_CLUSTER_NODES (host:port list): connect to a Redis Cluster. */
  readonly clusterNodes: ReadonlyArray<{ readonly host: string, readonly port: number }>
}

export interface StoreConfig {
  readonly kind: 'memory' | 'redis'
  readonly redis: RedisConfig | undefined
  /** SESSION_ENCRYPTION_KEY entries (base64url, 32 bytes each), newest first: the first seals, all open. */
  readonly encryptionKeys: readonly string[]
}
