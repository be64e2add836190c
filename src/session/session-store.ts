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
  /** The User-Agent header of the login request (truncated), shown in the user's list of sessions. */
  readonly userAgent?: string
  /** The client IP of the login request, shown in the user's list of sessions. */
  readonly ip?: string
}

/** One entry of a user's sessions: the storage key and its record. */
export interface UserSessionEntry {
  readonly key: string
  readonly record: SessionRecord
}

/** A key the sweeper claimed. */
export interface ClaimedExpiry {
  readonly key: string
  /** Due so long ago that the store may have forgotten the record (a key missing then was lost, not ended). */
  readonly overdue: boolean
}

export interface SessionStore {
  get (key: string): Promise<SessionRecord | undefined>
  /** Stores the record; the store may forget it after ttlMs. */
  set (key: string, record: SessionRecord, ttlMs: number): Promise<void>
  /**
   * Stores the record only if the key still exists, atomically; true if it did. A refresh writes its new tokens this
   * way, so a logout that lands while the refresh is in flight (on any replica) is never undone. Without it, the
   * Sessions layer reads, then writes.
   */
  replace? (key: string, record: SessionRecord, ttlMs: number): Promise<boolean>
  /** Records activity: sets lastSeenAt and extends the entry's lifetime, if the entry still exists. */
  touch (key: string, lastSeenAt: number, ttlMs: number): Promise<void>
  delete (key: string): Promise<void>
  /**
   * Removes the entry and returns what it held, atomically: of several callers (on any replica) taking the same key,
   * one gets the record. Ending a session goes through here, so its refresh token is revoked once. Without it, the
   * Sessions layer reads, then deletes.
   */
  take? (key: string): Promise<SessionRecord | undefined>
  /**
   * The sweeper's claim (issue #15): the keys of sessions whose expiry (the time of their last set or touch plus its
   * TTL, on the store's clock) is at or before `now`, at most `limit`, each handed to one caller only. A store that
   * drops expired entries itself (the memory store, through its onDrop) purges them here and returns none.
   */
  claimExpired? (now: number, limit: number): Promise<ClaimedExpiry[]>
  /** How many keys a user's index holds (sessions that are gone may still count until listed). */
  countByUser? (sub: string): Promise<number>
  close (): Promise<void>
  /** Resolves when the store answers, rejects when it does not (readiness). Without it, /readyz reads an unknown key. */
  ping? (): Promise<void>
  /**
   * The sessions of one user (`sub`), from the store's per-user index (issue #11). The store keeps the index on set,
   * delete and its own eviction, and prunes entries whose session is gone when it lists them. Timeouts are not
   * checked here (the Sessions layer does that). A store without it cannot list or end a user's other sessions.
   */
  listByUser? (sub: string): Promise<UserSessionEntry[]>
}
