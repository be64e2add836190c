/**
 * What the gateway keeps per session, and the small promise-based interface every store implements.
 * Records are JSON-safe (strings, numbers, plain objects) so that a network store can serialise them.
 */
export interface SessionRecord {
  /** The user's subject identifier at the IdP. */
  readonly sub: string
  /** Profile claims from the verified id_token (technical claims removed). */
  readonly user: Readonly<Record<string, unknown>>
  readonly accessToken: string
  readonly refreshToken?: string
  /** When the access token expires, epoch ms. */
  readonly expiresAt: number
  /** The access token's lifetime as issued, ms; bounds the refresh window. */
  readonly lifetimeMs: number
  readonly scope: string
  readonly createdAt: number
  /** The absolute session lifetime ends here, epoch ms, whatever the activity. */
  readonly absoluteExpiresAt: number
  /** Last time the session was used, epoch ms; drives the idle timeout. */
  readonly lastSeenAt: number
  /** Incremented on every token rotation. */
  readonly version: number
  /** When the last successful refresh happened, epoch ms (REFRESH_MIN_INTERVAL counts from here). */
  readonly lastRefreshAt?: number
  /** No refresh before this time, epoch ms (set after an IdP 429 or a transient failure). */
  readonly refreshNotBefore?: number
  /** Why refreshNotBefore is set: what a request with an expired token is told meanwhile. */
  readonly refreshBlockedBy?: 'refresh_rate_limited' | 'idp_unavailable'
}

export interface SessionStore {
  get (key: string): Promise<SessionRecord | undefined>
  /** Stores the record; the store may forget it after ttlMs. */
  set (key: string, record: SessionRecord, ttlMs: number): Promise<void>
  /** Records activity: sets lastSeenAt and extends the entry's lifetime, if the entry still exists. */
  touch (key: string, lastSeenAt: number, ttlMs: number): Promise<void>
  delete (key: string): Promise<void>
  close (): Promise<void>
  /** Resolves when the store answers, rejects when it does not (readiness). Without it, /readyz reads an unknown key. */
  ping? (): Promise<void>
}
