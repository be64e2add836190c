/**
 * OpenID Connect discovery for OIDC_ISSUER: the endpoints of any standards-based IdP (Keycloak, Okta, …) come from
 * `{issuer}/.well-known/openid-configuration`, fetched once at startup with a deadline. loadConfig is synchronous,
 * so this is the async step between it and buildApp: `buildApp({ config: await resolveEndpoints(loadConfig(env)) })`.
 */
import type { AppConfig, IdpEndpoints, LoadedConfig, PendingIdpConfig } from '../config-types.js'
import { idpUrl } from './idp-url.js'

/** What discovery finds: the document's `issuer` exactly as published (id_tokens must carry exactly this `iss`), and the endpoints. */
export type DiscoveredEndpoints = IdpEndpoints

/** Discovery failed: the process must not start. The message is one line for the operator. */
export class DiscoveryError extends Error {
  constructor (message: string, cause?: unknown) {
    super(message, { cause })
    this.name = 'DiscoveryError'
  }
}

export interface DiscoveryOptions {
  readonly timeoutMs: number
  readonly fetch?: typeof fetch | undefined
  /** RS256 needs the JWKS; HS256 verifies with the client secret and can do without `jwks_uri`. */
  readonly requireJwks?: boolean
}

/** OpenID Connect Discovery 1.0 §4: the issuer (without a trailing slash) followed by /.well-known/openid-configuration. */
export function discoveryUrl (issuer: string): string {
  return idpUrl(issuer, '.well-known/openid-configuration')
}

function withoutSlash (value: string): string {
  return value.replace(/\/+$/, '')
}

function httpUrl (doc: Record<string, unknown>, field: string, required: boolean): string {
  const value = doc[field]
  if (value === undefined && !required) return ''
  if (typeof value !== 'string') throw new DiscoveryError(`OIDC_ISSUER: the discovery document has no ${field}`)
  let url: URL | undefined
  try { url = new URL(value) } catch {}
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new DiscoveryError(`OIDC_ISSUER: the discovery document's ${field} is not an http(s) URL`)
  return value
}

/** Fetches and checks the discovery document of `issuer`. Throws DiscoveryError with a one-line reason. */
export async function discover (issuer: string, options: DiscoveryOptions): Promise<DiscoveredEndpoints> {
  const url = discoveryUrl(issuer)
  const doFetch = options.fetch ?? globalThis.fetch
  const signal = AbortSignal.timeout(options.timeoutMs)
  let status: number
  let text: string
  try {
    const response = await doFetch(url, { headers: { accept: 'application/json' }, signal, redirect: 'follow' })
    status = response.status
    text = await response.text()
  } catch (err) {
    const reason = signal.aborted ? `no answer within IDP_TIMEOUT (${options.timeoutMs} ms)` : `unreachable (${err instanceof Error ? err.message : String(err)})`
    throw new DiscoveryError(`OIDC_ISSUER: cannot fetch ${url}: ${reason}`, err)
  }
  if (status !== 200) throw new DiscoveryError(`OIDC_ISSUER: ${url} answered ${status}; check the issuer URL (Keycloak: https://host/realms/<realm>, Okta: https://<org>.okta.com/oauth2/default)`)
  let doc: unknown
  try { doc = JSON.parse(text) } catch {}
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new DiscoveryError(`OIDC_ISSUER: ${url} is not a JSON discovery document`)
  const fields = doc as Record<string, unknown> // narrowed: a plain JSON object; each field is checked below
  const published = fields.issuer
  if (typeof published !== 'string' || withoutSlash(published) !== withoutSlash(issuer)) {
    throw new DiscoveryError(`OIDC_ISSUER: the discovery document names the issuer ${typeof published === 'string' ? `"${published}"` : '(none)'}, not "${issuer}"; set OIDC_ISSUER to the IdP's issuer`)
  }
  return {
    issuer: published,
    tokenUrl: httpUrl(fields, 'token_endpoint', true),
    revokeUrl: httpUrl(fields, 'revocation_endpoint', false),
    userinfoUrl: httpUrl(fields, 'userinfo_endpoint', false),
    jwksUrl: httpUrl(fields, 'jwks_uri', options.requireJwks ?? true)
  }
}

/** Whether the IdP's endpoints are known: always with AUTH0_DOMAIN, after discovery with OIDC_ISSUER. */
function isResolved (config: LoadedConfig): config is AppConfig {
  return !('endpoints' in config.idp)
}

/**
 * With OIDC_ISSUER, returns the configuration with the discovered endpoints and issuer; with AUTH0_DOMAIN, the
 * configuration as it is (Auth0's endpoints are fixed paths). Throws DiscoveryError when discovery fails.
 */
export async function resolveEndpoints (config: LoadedConfig, options: { fetch?: typeof fetch | undefined } = {}): Promise<AppConfig> {
  if (isResolved(config)) return config
  const idp = config.idp as PendingIdpConfig // narrowed: isResolved said the endpoints are pending
  const { endpoints: _pending, ...settings } = idp
  const discovered = await discover(idp.issuer, { timeoutMs: idp.timeoutMs, fetch: options.fetch, requireJwks: idp.idTokenAlg === 'RS256' })
  return Object.freeze({ ...config, idp: Object.freeze({ ...settings, ...discovered }) })
}
