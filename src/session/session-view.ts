import type { SessionRecord } from './session-store.js'

/** What a client may know about its session: never a token. */
export interface SessionView {
  user: Record<string, unknown>
  scope: string
  /** When the session ends if nothing happens: the earlier of the idle and the absolute timeout (ISO 8601). */
  expires_at: string
  access_token_expires_at: string
  has_refresh_token: boolean
}

export function sessionView (record: SessionRecord, idleTimeoutMs: number): SessionView {
  return {
    user: { ...record.user },
    scope: record.scope,
    expires_at: new Date(Math.min(record.absoluteExpiresAt, record.lastSeenAt + idleTimeoutMs)).toISOString(),
    access_token_expires_at: new Date(record.expiresAt).toISOString(),
    has_refresh_token: record.refreshToken !== undefined
  }
}
