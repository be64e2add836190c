/**
 * The gateway's environment reader: the only module that reads environment variable names. `loadConfig(env)`
 * validates everything at start and returns a frozen LoadedConfig (its types: src/config-types.ts); a wrong value
 * throws a ConfigError whose one-line message names the variable and what is expected. With OIDC_ISSUER the IdP's
 * endpoints are pending until `resolveEndpoints` (src/oidc/discovery.ts) makes it the AppConfig buildApp takes.
 */
import { readFileSync } from 'node:fs'
import type { AdminApiConfig, ConnectionsConfig, IdpConfig, IdpSettings, LoadedConfig, PendingIdpConfig, RateLimitSetting, StoreConfig, UpstreamConfig } from './src/config-types.js'
import { ConfigError } from './src/errors.js'
import { parseDuration } from './src/duration.js'
import { decodeEncryptionKey } from './src/crypto/sealer.js'
import { idpUrl } from './src/oidc/idp-url.js'
import { HEADER_PATTERN, PROTECTED_REQUEST_HEADERS } from './src/proxy/request-headers.js'

export type * from './src/config-types.js'

export type Env = Record<string, string | undefined>

const DEFAULT_SCOPE = 'openid profile email offline_access'
const REQUIRED = ['AUTH0_CLIENT_ID', 'SESSION_SECRET'] as const
const MIN_SECRET_LENGTH = 32
/** Browsers keep no cookie longer than 400 days (RFC 6265bis). */
const MAX_COOKIE_LIFETIME_MS = 400 * 86_400_000

/** Reads and validates the environment. Throws ConfigError naming the variable at fault. */
export function loadConfig (env: Env = process.env): LoadedConfig {
  const read = reader(env)
  const missing: string[] = REQUIRED.filter(name => read.optional(name) === undefined)
  const oidcIssuer = read.optional('OIDC_ISSUER')
  if (oidcIssuer === undefined && read.optional('AUTH0_DOMAIN') === undefined) missing.unshift('AUTH0_DOMAIN') // or OIDC_ISSUER for any other OpenID provider
  if (oidcIssuer !== undefined && read.optional('AUTH0_DOMAIN') !== undefined) throw new ConfigError('AUTH0_DOMAIN and OIDC_ISSUER: set one or the other')
  const authMethod = read.oneOf('AUTH0_CLIENT_AUTH_METHOD', ['client_secret_post', 'client_secret_basic', 'private_key_jwt'], 'client_secret_post')
  const idTokenAlg = read.oneOf('AUTH0_ID_TOKEN_SIGNING_ALG', ['RS256', 'HS256'], 'RS256')
  const clientSecret = read.optional('AUTH0_CLIENT_SECRET')
  if (clientSecret === undefined && (authMethod !== 'private_key_jwt' || idTokenAlg === 'HS256')) missing.push('AUTH0_CLIENT_SECRET')
  if (authMethod === 'private_key_jwt' && read.optional('AUTH0_CLIENT_ASSERTION_KEY') === undefined) missing.push('AUTH0_CLIENT_ASSERTION_KEY')
  if (missing.length > 0) {
    throw new ConfigError(`Missing configuration: ${missing.join(', ')}. Set ${missing.length > 1 ? 'them' : 'it'} in the environment (see README "Configuration"), or run \`npm run demo\` to try the gateway against a local IdP.`)
  }

  const provider = oidcIssuer === undefined ? 'auth0' : 'oidc'
  const origin = oidcIssuer === undefined ? parseDomain(read.required('AUTH0_DOMAIN')) : ''
  const auth0Extensions = provider === 'auth0' || read.oneOf('OIDC_AUTH0_EXTENSIONS', ['on', 'off'], 'off', value => value.toLowerCase()) === 'on'
  const secrets = read.list('SESSION_SECRET')
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) throw new ConfigError(`SESSION_SECRET: every secret must be at least ${MIN_SECRET_LENGTH} characters (got one of ${secret.length})`)
  }
  const logHashKey = read.optional('LOG_HASH_KEY')
  if (logHashKey !== undefined && logHashKey.length < MIN_SECRET_LENGTH) throw new ConfigError(`LOG_HASH_KEY: must be at least ${MIN_SECRET_LENGTH} characters (got ${logHashKey.length})`)
  const deviceCookieLifetimeMs = read.duration('DEVICE_COOKIE_LIFETIME', '90d')
  if (deviceCookieLifetimeMs < 60_000 || deviceCookieLifetimeMs > MAX_COOKIE_LIFETIME_MS) {
    throw new ConfigError(`DEVICE_COOKIE_LIFETIME: expected a duration from 1m to 400d, such as 90d, got "${read.optional('DEVICE_COOKIE_LIFETIME') ?? ''}"`)
  }
  const cookieName = read.optional('COOKIE_NAME') ?? '__Host-bff-session'
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) throw new ConfigError('COOKIE_NAME: expected a cookie name (letters, digits and !#$%&\'*+-.^_`|~)')
  const idleTimeoutMs = read.duration('SESSION_IDLE_TIMEOUT', '30m')
  const absoluteTimeoutMs = read.duration('SESSION_ABSOLUTE_TIMEOUT', '12h')
  if (idleTimeoutMs > absoluteTimeoutMs) throw new ConfigError('SESSION_IDLE_TIMEOUT: must not be longer than SESSION_ABSOLUTE_TIMEOUT')
  const sweepIntervalMs = read.duration('SESSION_SWEEP_INTERVAL', '30s')
  if (sweepIntervalMs < 1_000 || sweepIntervalMs > 3_600_000) throw new ConfigError('SESSION_SWEEP_INTERVAL: expected from 1s to 1h')
  const realm = read.optional('AUTH0_REALM')
  if (!auth0Extensions && (realm !== undefined || read.optional('AUTH0_REALMS') !== undefined)) {
    throw new ConfigError('AUTH0_REALM / AUTH0_REALMS: the password-realm grant is an Auth0 extension; with OIDC_ISSUER set OIDC_AUTH0_EXTENSIONS=on to use it')
  }
  const mfaPollIntervalMs = read.duration('MFA_POLL_INTERVAL', '5s')
  if (mfaPollIntervalMs % 1000 !== 0 || mfaPollIntervalMs < 1000 || mfaPollIntervalMs > 60_000) {
    throw new ConfigError(`MFA_POLL_INTERVAL: expected whole seconds from 1s to 60s, such as 5 or 5s, got "${read.optional('MFA_POLL_INTERVAL') ?? ''}"`)
  }
  const sessionMaxEntries = read.integer('SESSION_MAX_ENTRIES', 100_000, 1, 100_000_000)
  const adminPort = read.optional('ADMIN_PORT')?.toLowerCase() === 'off' ? undefined : read.integer('ADMIN_PORT', 9091, 0, 65_535)

  const config: LoadedConfig = {
    server: {
      host: read.optional('HOST') ?? '127.0.0.1',
      port: read.integer('PORT', 3000, 0, 65_535),
      trustProxy: parseTrustProxy(read.optional('TRUST_PROXY')),
      publicOrigins: [...new Set(read.list('PUBLIC_ORIGIN').map(parsePublicOrigin))],
      logLevel: read.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
      adminPort,
      shutdownTimeoutMs: read.duration('SHUTDOWN_TIMEOUT', '10s')
    },
    idp: idpConfig(origin, oidcIssuer, {
      provider,
      auth0Extensions,
      clientId: read.required('AUTH0_CLIENT_ID'),
      clientSecret,
      authMethod,
      assertionKey: authMethod === 'private_key_jwt'
        ? { pem: readPem(read.required('AUTH0_CLIENT_ASSERTION_KEY')), alg: read.oneOf('AUTH0_CLIENT_ASSERTION_ALG', ['RS256', 'RS384', 'PS256'], 'RS256') }
        : undefined,
      idTokenAlg,
      audience: read.optional('AUTH0_AUDIENCE'),
      scope: read.optional('AUTH0_SCOPE') ?? DEFAULT_SCOPE,
      realm,
      realms: [...new Set([...(realm === undefined ? [] : [realm]), ...read.list('AUTH0_REALMS')])],
      timeoutMs: read.duration('IDP_TIMEOUT', '5s'),
      clockToleranceSec: Math.round(read.duration('AUTH0_CLOCK_TOLERANCE', '60s') / 1000)
    }),
    session: {
      idleTimeoutMs,
      absoluteTimeoutMs,
      maxEntries: sessionMaxEntries,
      maxPerUser: read.integer('MAX_SESSIONS_PER_USER', 50, 1, 1_000),
      sweepIntervalMs
    },
    cookie: {
      name: cookieName,
      secrets,
      sameSite: read.oneOf('COOKIE_SAMESITE', ['strict', 'lax'], 'strict', value => value.toLowerCase())
    },
    refresh: {
      skewMs: read.duration('REFRESH_SKEW', '60s'),
      minIntervalMs: read.duration('REFRESH_MIN_INTERVAL', '10s')
    },
    proxy: {
      upstreams: parseUpstreams(read.optional('UPSTREAMS') ?? ''),
      timeoutMs: read.duration('UPSTREAM_TIMEOUT', '30s'),
      forwardCookies: read.list('FORWARD_COOKIES'),
      stripRequestHeaders: read.list('STRIP_REQUEST_HEADERS').map(parseStrippedHeader)
    },
    csrf: {
      headerName: (read.optional('CSRF_HEADER') ?? 'x-csrf').toLowerCase(),
      allowedOrigins: read.list('ALLOWED_ORIGINS').map(value => parseOrigin('ALLOWED_ORIGINS', value))
    },
    store: parseStore(read),
    login: {
      perIp: parseRateLimit(read, 'LOGIN_RATE_LIMIT_IP', '100/1m'),
      perIpUser: parseRateLimit(read, 'LOGIN_RATE_LIMIT_IP_USER', '10/1m'),
      perUser: parseRateLimit(read, 'LOGIN_RATE_LIMIT_USER', '20/1m'),
      perDevice: parseRateLimit(read, 'LOGIN_RATE_LIMIT_DEVICE', '30/1m'),
      deviceCookieLifetimeMs,
      perMfaLogin: parseRateLimit(read, 'LOGIN_RATE_LIMIT_MFA', '30/1m'),
      headerSessions: read.oneOf('ALLOW_HEADER_SESSIONS', ['true', 'false'], 'false', parseFlag) === 'true'
    },
    logHashKey: logHashKey ?? secrets[0] ?? '',
    admin: parseAdminApi(read, adminPort),
    userinfo: { cacheTtlMs: read.duration('USERINFO_CACHE_TTL', '5m') },
    mfa: {
      pollIntervalSec: mfaPollIntervalMs / 1000,
      pendingMaxEntries: read.integer('MFA_PENDING_MAX_ENTRIES', Math.ceil(sessionMaxEntries / 10), 1, 100_000_000),
      challengePerAuthenticator: parseRateLimit(read, 'MFA_CHALLENGE_RATE_LIMIT_AUTHENTICATOR', '1/30s'),
      challengePerLogin: parseRateLimit(read, 'MFA_CHALLENGE_RATE_LIMIT_LOGIN', '5/5m'),
      challengePerUser: parseRateLimit(read, 'MFA_CHALLENGE_RATE_LIMIT_USER', '10/1h'),
      wrongCodesPerUser: parseRateLimit(read, 'MFA_WRONG_CODE_RATE_LIMIT_USER', '10/15m'),
      maxWrongCodes: read.integer('MFA_MAX_WRONG_CODES', 5, 1, 1_000)
    },
    connections: parseConnections(read)
  }
  return deepFreeze(config)
}

/** AUTH0_DOMAIN: Auth0's fixed paths under the tenant. OIDC_ISSUER: the issuer, the endpoints pending until discovery. */
function idpConfig (origin: string, oidcIssuer: string | undefined, settings: IdpSettings): IdpConfig | PendingIdpConfig {
  if (oidcIssuer !== undefined) return { ...settings, provider: 'oidc', issuer: parseIssuer(oidcIssuer), endpoints: 'pending' }
  return { ...settings, issuer: idpUrl(origin, ''), tokenUrl: idpUrl(origin, 'oauth/token'), revokeUrl: idpUrl(origin, 'oauth/revoke'), userinfoUrl: idpUrl(origin, 'userinfo'), jwksUrl: idpUrl(origin, '.well-known/jwks.json') }
}

function reader (env: Env) {
  const optional = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  return {
    optional,
    required (name: string): string {
      const value = optional(name)
      /* c8 ignore next -- loadConfig reports every missing required variable before reading it */
      if (value === undefined) throw new ConfigError(`${name}: required`)
      return value
    },
    list (name: string): string[] {
      return (optional(name) ?? '').split(',').map(item => item.trim()).filter(item => item !== '')
    },
    integer (name: string, fallback: number, min: number, max: number): number {
      const value = optional(name)
      if (value === undefined) return fallback
      const parsed = Number(value)
      if (!/^\d+$/.test(value) || parsed < min || parsed > max) throw new ConfigError(`${name}: expected an integer from ${min} to ${max}, got "${value}"`)
      return parsed
    },
    duration (name: string, fallback: string): number {
      const value = optional(name) ?? fallback
      const ms = parseDuration(value)
      if (ms === undefined || ms <= 0) throw new ConfigError(`${name}: expected a duration such as 90, 90s, 30m or 12h, got "${value}"`)
      return ms
    },
    oneOf<T extends string> (name: string, allowed: readonly T[], fallback: T, normalise: (value: string) => string = value => value): T {
      const value = optional(name)
      if (value === undefined) return fallback
      const found = allowed.find(candidate => candidate === normalise(value))
      if (found === undefined) throw new ConfigError(`${name}: expected one of ${allowed.join(', ')}, got "${value}"`)
      return found
    }
  }
}

/** `N/window` (e.g. `100/1m`, `10/30s`), or `off`. */
function parseRateLimit (read: ReturnType<typeof reader>, name: string, fallback: string): RateLimitSetting | undefined {
  const value = read.optional(name) ?? fallback
  if (value.toLowerCase() === 'off') return undefined
  const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value)
  const max = Number(match?.[1])
  const windowMs = parseDuration(match?.[2] ?? '')
  if (match === null || !Number.isInteger(max) || max < 1 || max > 1_000_000 || windowMs === undefined || windowMs < 1000) {
    throw new ConfigError(`${name}: expected N/window such as 100/1m or 10/30s (at least one request per at least one second), or off, got "${value}"`)
  }
  return { max, windowMs }
}

const MAX_CONNECTION_TIMEOUT_MS = 3_600_000

/** HEADERS_TIMEOUT, REQUEST_TIMEOUT, KEEP_ALIVE_TIMEOUT (up to an hour each; headers within the request bound), MAX_CONNECTIONS. */
function parseConnections (read: ReturnType<typeof reader>): ConnectionsConfig {
  const bounded = (name: string, fallback: string): number => {
    const ms = read.duration(name, fallback)
    if (ms > MAX_CONNECTION_TIMEOUT_MS) throw new ConfigError(`${name}: expected a duration of at most 1h, got "${read.optional(name) ?? ''}"`)
    return ms
  }
  const headersTimeoutMs = bounded('HEADERS_TIMEOUT', '10s')
  const requestTimeoutMs = bounded('REQUEST_TIMEOUT', '30s')
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HEADERS_TIMEOUT: must not be longer than REQUEST_TIMEOUT')
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: bounded('KEEP_ALIVE_TIMEOUT', '72s'),
    maxConnections: read.integer('MAX_CONNECTIONS', 10_000, 1, 1_000_000)
  }
}

/** ADMIN_API=on needs ADMIN_TOKEN (a long random secret) and the admin server (ADMIN_PORT not off). */
function parseAdminApi (read: ReturnType<typeof reader>, adminPort: number | undefined): AdminApiConfig {
  const api = read.oneOf('ADMIN_API', ['true', 'false'], 'false', parseFlag) === 'true'
  if (!api) return { api, token: undefined }
  const token = read.optional('ADMIN_TOKEN')
  if (token === undefined) throw new ConfigError('ADMIN_TOKEN: required when ADMIN_API=on; generate one with `node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64url\'))"`')
  if (token.length < MIN_SECRET_LENGTH) throw new ConfigError(`ADMIN_TOKEN: must be at least ${MIN_SECRET_LENGTH} characters (got ${token.length})`)
  if (adminPort === undefined) throw new ConfigError('ADMIN_API: the admin API is served on the admin server; set ADMIN_PORT (not off)')
  return { api, token }
}

function parseFlag (value: string): string {
  const lower = value.toLowerCase()
  if (['true', 'on', '1', 'yes'].includes(lower)) return 'true'
  if (['false', 'off', '0', 'no'].includes(lower)) return 'false'
  return lower
}

/** SESSION_STORE and what it needs: in redis mode a Redis location and at least one encryption key. */
function parseStore (read: ReturnType<typeof reader>): StoreConfig {
  const kind = read.oneOf('SESSION_STORE', ['memory', 'redis'], 'memory', value => value.toLowerCase())
  const encryptionKeys = read.list('SESSION_ENCRYPTION_KEY').map((text, index) => {
    const key = decodeEncryptionKey(text)
    if (typeof key === 'string') throw new ConfigError(`SESSION_ENCRYPTION_KEY: entry ${index + 1}: ${key}; each entry is 32 random bytes in base64 or base64url`)
    return key.toString('base64url')
  })
  if (kind === 'memory') return { kind, redis: undefined, encryptionKeys }
  if (encryptionKeys.length === 0) {
    throw new ConfigError('SESSION_ENCRYPTION_KEY: required when SESSION_STORE=redis, so tokens are encrypted at rest; generate one with `node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64url\'))"`')
  }
  const url = read.optional('REDIS_URL')
  if (url !== undefined) {
    let parsed: URL | undefined
    try { parsed = new URL(url) } catch {}
    if (parsed === undefined || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !/^\/?\d*$/.test(parsed.pathname)) {
      throw new ConfigError('REDIS_URL: expected redis://[[user]:password@]host[:port][/db] or rediss://… (the URL is not shown: it may hold a password)')
    }
  }
  const sentinels = parseHostPorts(read, 'REDIS_SENTINELS', 26_379)
  const sentinelMaster = read.optional('REDIS_SENTINEL_MASTER')
  const clusterNodes = parseHostPorts(read, 'REDIS_CLUSTER_NODES', 6379)
  if (sentinels.length > 0 && clusterNodes.length > 0) throw new ConfigError('REDIS_SENTINELS and REDIS_CLUSTER_NODES: set one or the other')
  if (sentinels.length > 0 && sentinelMaster === undefined) throw new ConfigError('REDIS_SENTINEL_MASTER: required with REDIS_SENTINELS (the name Sentinel monitors, e.g. mymaster)')
  if (url === undefined && sentinels.length === 0 && clusterNodes.length === 0) {
    throw new ConfigError('REDIS_URL: required when SESSION_STORE=redis (or REDIS_SENTINELS / REDIS_CLUSTER_NODES)')
  }
  return {
    kind,
    encryptionKeys,
    redis: {
      url,
      keyPrefix: read.optional('REDIS_KEY_PREFIX') ?? 'bff:',
      timeoutMs: read.duration('REDIS_TIMEOUT', '1s'),
      sentinels,
      sentinelMaster,
      clusterNodes
    }
  }
}

function parseHostPorts (read: ReturnType<typeof reader>, name: string, defaultPort: number): Array<{ host: string, port: number }> {
  return read.list(name).map(entry => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(entry)
    const port = match?.[2] === undefined ? defaultPort : Number(match[2])
    if (match?.[1] === undefined || port < 1 || port > 65_535) throw new ConfigError(`${name}: expected host:port pairs separated by commas, got "${entry}"`)
    return { host: match[1].replace(/^\[|\]$/g, ''), port }
  })
}

/** `tenant.auth0.com` or a full URL such as `http://127.0.0.1:4010` → its origin, without a trailing slash. */
function parseDomain (value: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `https://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new ConfigError(`AUTH0_DOMAIN: expected a tenant host such as example.eu.auth0.com or a URL such as http://127.0.0.1:4010, got "${value}"`)
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError(`AUTH0_DOMAIN: expected a host or an http(s) origin without a path, got "${value}"`)
  }
  return url.origin
}

/** OIDC_ISSUER: an http(s) URL, path allowed (`https://kc.example.com/realms/demo`, `https://org.okta.com/oauth2/default`). */
function parseIssuer (value: string): string {
  let url: URL | undefined
  try { url = new URL(value) } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`OIDC_ISSUER: expected the issuer URL, e.g. https://keycloak.example.com/realms/demo, got "${value}"`)
  }
  return value
}

function parseOrigin (name: string, value: string): string {
  try {
    const url = new URL(value)
    if (url.origin !== 'null') return url.origin
  } catch {}
  throw new ConfigError(`${name}: expected origins such as https://app.example.com, got "${value}"`)
}

/** PUBLIC_ORIGIN entries: an http(s) origin, nothing more (no path, query, fragment or credentials). */
function parsePublicOrigin (value: string): string {
  let url: URL | undefined
  try { url = new URL(value) } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || !/^[a-z]+:\/\/[^/?#]+\/?$/i.test(value) || url.username !== '' || url.password !== '') {
    throw new ConfigError(`PUBLIC_ORIGIN: expected the origins the gateway is served at, such as https://app.example.com or http://127.0.0.1:3000 (scheme, host and port only), got "${value}"`)
  }
  return url.origin
}

/** STRIP_REQUEST_HEADERS entries: header names, or prefixes ending in `*`; never one the proxy needs. */
function parseStrippedHeader (value: string): string {
  const name = value.toLowerCase()
  if (!HEADER_PATTERN.test(name) || name === '*') {
    throw new ConfigError(`STRIP_REQUEST_HEADERS: expected header names, or prefixes ending in * (x-internal-*), got "${value}"`)
  }
  const prefix = name.endsWith('*') ? name.slice(0, -1) : undefined
  const hit = PROTECTED_REQUEST_HEADERS.find(header => prefix === undefined ? header === name : header.startsWith(prefix))
  if (hit !== undefined) throw new ConfigError(`STRIP_REQUEST_HEADERS: "${value}" would remove ${hit}, which the proxy needs`)
  return name
}

function parseTrustProxy (value: string | undefined): false | string[] {
  if (value === undefined || value === 'false') return false
  const entries = value.split(',').map(entry => entry.trim()).filter(entry => entry !== '')
  const keyword = /^(loopback|linklocal|uniquelocal)$/
  const address = /^[0-9a-fA-F:.]+(\/\d{1,3})?$/
  for (const entry of entries) {
    if (!keyword.test(entry) && !address.test(entry)) {
      throw new ConfigError(`TRUST_PROXY: expected false or a comma-separated list of proxy addresses or CIDRs (or loopback, linklocal, uniquelocal), got "${entry}"`)
    }
  }
  return entries
}

/**
 * `UPSTREAMS=/api=http://orders:8080,/api/billing=http://billing:9000/v1`: each entry is prefix=URL. When the URL
 * has a path, the prefix is replaced by it upstream (`/api/billing/x` → `/v1/x`); without one, the path is kept.
 */
export function parseUpstreams (value: string): UpstreamConfig[] {
  const upstreams: UpstreamConfig[] = []
  for (const entry of value.split(',').map(item => item.trim()).filter(item => item !== '')) {
    const match = /^(\/[^=]*)=(https?:\/\/[^/]+)(\/.*)?$/.exec(entry)
    const prefix = match?.[1]?.replace(/\/+$/, '')
    if (match === null || prefix === undefined || prefix === '' || !/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)) {
      throw new ConfigError(`UPSTREAMS: expected prefix=URL pairs such as /api=http://127.0.0.1:8081, got "${entry}"`)
    }
    let origin: string
    try {
      origin = new URL(match[2] ?? '').origin
    } catch {
      throw new ConfigError(`UPSTREAMS: "${match[2] ?? ''}" is not a valid URL`)
    }
    if (upstreams.some(upstream => upstream.prefix === prefix)) throw new ConfigError(`UPSTREAMS: the prefix ${prefix} is listed twice`)
    upstreams.push({ prefix, origin, rewritePrefix: match[3] === undefined ? prefix : match[3].replace(/\/+$/, '') })
  }
  return upstreams
}

function readPem (path: string): string {
  let pem: string
  try {
    pem = readFileSync(path, 'utf8')
  } catch {
    throw new ConfigError(`AUTH0_CLIENT_ASSERTION_KEY: cannot read the PEM file "${path}"`)
  }
  if (!pem.includes('PRIVATE KEY')) throw new ConfigError(`AUTH0_CLIENT_ASSERTION_KEY: "${path}" holds no PEM private key`)
  return pem
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
