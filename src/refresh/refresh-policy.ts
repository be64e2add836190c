import type { SessionRecord } from '../session/session-store.js'

export type TokenState =
  /** Outside the refresh window: use it. */
  | 'fresh'
  /** Still valid but inside the window: use it, refresh in the background. */
  | 'refresh-soon'
  /** Expired: wait for a refresh. */
  | 'expired'

export interface RefreshWindow {
  /** How long before expiry a refresh starts (REFRESH_SKEW), capped at half the token's lifetime. */
  readonly skewMs: number
}

/**
 * Where a session's access token stands at `now`. The window's start is spread by up to half its length per session
 * (`spread` in [0, 1), stable per session), so tokens issued together do not all refresh in the same second.
 */
export function tokenState (record: SessionRecord, now: number, window: RefreshWindow, spread: number): TokenState {
  if (now >= record.expiresAt) return 'expired'
  const skew = Math.min(window.skewMs, record.lifetimeMs / 2)
  const refreshAt = record.expiresAt - skew + skew * 0.5 * spread
  return now >= refreshAt ? 'refresh-soon' : 'fresh'
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** A stable number in [0, 1) from a session id, whose characters are uniformly random base64url. */
export function spreadFor (sessionId: string): number {
  let value = 0
  for (let i = 0; i < 3; i++) value = value * 64 + Math.max(0, BASE64URL.indexOf(sessionId.charAt(i)))
  return value / 64 ** 3
}

/** When a refresh may next be tried for this session, epoch ms: the IdP's not-before and our minimum interval. */
export function refreshAllowedAt (record: SessionRecord, minIntervalMs: number): number {
  const afterInterval = record.lastRefreshAt === undefined ? 0 : record.lastRefreshAt + minIntervalMs
  return Math.max(afterInterval, record.refreshNotBefore ?? 0)
}
