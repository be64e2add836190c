/**
 * Session administration (issue #11): a user's sessions as a list of summaries, one named by its handle, and ending
 * them. Used by the user's own routes (routes/my-sessions.ts) and the operators' admin API (routes/admin-api.ts).
 * A summary never holds a session id, storage key or token: sessions are named by their handle (src/session/user-index.ts).
 */
import type { EndContext } from './session-end.js'
import type { UserSessionEntry } from './session-store.js'
import type { Sessions } from './sessions.js'
import { isWellFormedHandle, sessionHandleKey, sessionHandleOf } from './user-index.js'

/** One session as a client (or an operator) sees it. */
export interface SessionSummary {
  handle: string
  created_at: string
  last_seen_at: string
  user_agent?: string
  ip?: string
  /** Whether it is the session of the request that asked (always false for an operator). */
  current: boolean
}

export interface SessionAdminOptions {
  readonly sessions: Pick<Sessions, 'listForUser' | 'endKey'>
  /** The first SESSION_SECRET: handles are made with a key derived from it (sessionHandleKey). */
  readonly secret: string
}

export interface SessionAdmin {
  /**
   * A user's live sessions (Sessions.listForUser). With `current`, the session of the request that asks is included
   * even when the store keeps no index (or no sub: a session without an id_token sees only itself).
   */
  list (sub: string, current?: UserSessionEntry): Promise<UserSessionEntry[]>
  /** The opaque handle of the session stored under a key. */
  handleOf (key: string): string
  /** A session as a client sees it; `current` is true for the entry stored under `currentKey`. */
  summarise (entry: UserSessionEntry, currentKey?: string): SessionSummary
  /** The entry a handle names among these, or undefined (also for a handle that is not shaped like one). */
  find (entries: readonly UserSessionEntry[], handle: string): UserSessionEntry | undefined
  /**
   * Ends sessions through the one place sessions end (src/session/session-end.ts), in parallel: each is taken out of
   * the store, its refresh token revoked, its tunnels closed on every replica. Returns how many were ended.
   */
  end (entries: readonly UserSessionEntry[], reason: 'logout_all' | 'admin', context: EndContext): Promise<number>
}

export function createSessionAdmin (options: SessionAdminOptions): SessionAdmin {
  const { sessions } = options
  const handleKey = sessionHandleKey(options.secret)
  const handleOf = (key: string): string => sessionHandleOf(handleKey, key)

  return {
    async list (sub, current) {
      const entries = await sessions.listForUser(sub)
      if (current === undefined || entries.some(entry => entry.key === current.key)) return entries
      return [...entries, current]
    },

    handleOf,

    summarise (entry, currentKey) {
      const { record } = entry
      return {
        handle: handleOf(entry.key),
        created_at: new Date(record.createdAt).toISOString(),
        last_seen_at: new Date(record.lastSeenAt).toISOString(),
        ...(record.userAgent === undefined ? {} : { user_agent: record.userAgent }),
        ...(record.ip === undefined ? {} : { ip: record.ip }),
        current: entry.key === currentKey
      }
    },

    find (entries, handle) {
      if (!isWellFormedHandle(handle)) return undefined
      return entries.find(entry => handleOf(entry.key) === handle)
    },

    async end (entries, reason, context) {
      await Promise.all(entries.map(async entry => { await sessions.endKey(entry.key, reason, context) }))
      return entries.length
    }
  }
}
