/**
 * The refresh decision: given a session's record, the time and the gateway's back-off, what a request does with its
 * access token. The only place that reasons about the refresh window, REFRESH_MIN_INTERVAL and the not-before times;
 * the request hook and the refresher both act on its answer.
 */
import type { SessionRecord } from '../session/session-store.js'

/** What a request is told while no refresh may be tried (503 with Retry-After). */
export type DeferCode = NonNullable<SessionRecord['refreshBlockedBy']>

export type Decision =
  /** Outside the refresh window, or inside it while no refresh may be tried: use the token. */
  | { readonly kind: 'use' }
  /** Inside the window and a refresh may be tried: use the token, refresh in the background. */
  | { readonly kind: 'use-and-refresh' }
  /** Expired (or refused) and a refresh may be tried: wait for it. */
  | { readonly kind: 'wait' }
  /** Expired (or refused) and no refresh may be tried before `until`, epoch ms: 503 `code`. */
  | { readonly kind: 'defer', readonly code: DeferCode, readonly until: number }
  /** Expired (or refused) and no refresh token to renew it with: the session is over (session_expired). */
  | { readonly kind: 'end' }

export interface RefreshSettings {
  /** REFRESH_SKEW: how long before expiry a refresh starts, capped at half the token's lifetime. */
  readonly skewMs: number
  /** REFRESH_MIN_INTERVAL: at most one refresh per session this often. */
  readonly minIntervalMs: number
}

export interface DecideState extends RefreshSettings {
  /** Gateway-wide back-off after the IdP limited the whole client, epoch ms (0: none). */
  readonly globalNotBefore: number
}

// Shared answers: deciding allocates nothing unless it defers.
const USE: Decision = Object.freeze({ kind: 'use' })
const USE_AND_REFRESH: Decision = Object.freeze({ kind: 'use-and-refresh' })
const WAIT: Decision = Object.freeze({ kind: 'wait' })
const END: Decision = Object.freeze({ kind: 'end' })

/**
 * What to do with the record's access token at `now`. The window's start is spread by up to half its length per
 * session (`spread` in [0, 1), see spreadFor), so tokens issued together do not all refresh in the same second.
 * `refused`: an upstream or the IdP refused the token, so it counts as expired whatever its expiry says.
 */
export function decide (record: SessionRecord, now: number, state: DecideState, spread: number, refused = false): Decision {
  const expired = refused || now >= record.expiresAt
  if (!expired && !inWindow(record, now, state.skewMs, spread)) return USE
  if (record.refreshToken === undefined) return expired ? END : USE
  const allowedAt = Math.max(refreshAllowedAt(record, state.minIntervalMs), state.globalNotBefore)
  if (now < allowedAt) {
    if (!expired) return USE
    const blocked = record.refreshNotBefore !== undefined && record.refreshNotBefore > now
    return { kind: 'defer', code: blocked ? record.refreshBlockedBy ?? 'idp_unavailable' : 'refresh_rate_limited', until: allowedAt }
  }
  return expired ? WAIT : USE_AND_REFRESH
}

function inWindow (record: SessionRecord, now: number, skewMs: number, spread: number): boolean {
  const skew = Math.min(skewMs, record.lifetimeMs / 2)
  return now >= record.expiresAt - skew + skew * 0.5 * spread
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Each ASCII code's position in BASE64URL (0 for other characters): a lookup, on every request, not a search. */
const DIGIT = new Uint8Array(128)
for (let i = 0; i < BASE64URL.length; i++) DIGIT[BASE64URL.charCodeAt(i)] = i

/**
 * A stable number in [0, 1) from a session id, whose characters are uniformly random base64url: its first three
 * characters as base-64 digits (a missing or foreign character counts as 0).
 */
export function spreadFor (sessionId: string): number {
  let value = 0
  for (let i = 0; i < 3; i++) {
    const code = sessionId.charCodeAt(i) // NaN past the end
    value = value * 64 + (code < 128 ? DIGIT[code] ?? 0 : 0)
  }
  return value / 64 ** 3
}

/** When a refresh may next be tried for this session, epoch ms: the IdP's not-before and our minimum interval. */
function refreshAllowedAt (record: SessionRecord, minIntervalMs: number): number {
  const afterInterval = record.lastRefreshAt === undefined ? 0 : record.lastRefreshAt + minIntervalMs
  return Math.max(afterInterval, record.refreshNotBefore ?? 0)
}
