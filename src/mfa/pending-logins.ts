import { createHash } from 'node:crypto'
import type { Clock } from '../clock.js'
import { isWellFormedSessionId, newSessionId } from '../session/session-id.js'
import type { SessionRecord, SessionStore } from '../session/session-store.js'
import type { MfaAuthenticator } from './mfa-api.js'

/** A pending login lives at most this long (Auth0's mfa_token lives up to 10 minutes). */
export const PENDING_LOGIN_TTL_MS = 5 * 60_000

/** A password login waiting for its second factor. Lives server-side only; the client holds a signed random id. */
export interface PendingLogin {
  readonly kind: 'mfa_pending'
  /** The IdP's mfa_token: never sent to the client, never logged. */
  readonly mfaToken: string
  /** Hashed user identifier, for the structured logs. */
  readonly user: string
  readonly realm: string | undefined
  /** Where the session goes once the second factor is right. */
  readonly transport: 'cookie' | 'header'
  readonly authenticators: readonly MfaAuthenticator[]
  readonly createdAt: number
  readonly expiresAt: number
  /** The current out-of-band challenge: its oob_code stays here, never with the client. */
  readonly oob?: {
    readonly code: string
    readonly authenticatorId: string
    /** A binding code must be typed (SMS, voice, email); else it is a push to poll for. */
    readonly binding: boolean
    /** Seconds between polls; widened on slow_down. */
    readonly intervalSec: number
  }
}

export type NewPendingLogin = Omit<PendingLogin, 'kind' | 'createdAt' | 'expiresAt' | 'oob'>

export interface PendingLogins {
  create (login: NewPendingLogin): Promise<{ id: string, record: PendingLogin }>
  /** The live pending login for an id, or undefined (unknown, expired, or not a pending login at all). */
  load (id: string): Promise<PendingLogin | undefined>
  /**
   * Writes an update of a pending login only if it still exists (a conditional write, as a token refresh does): false
   * when it was ended meanwhile (completed, rejected, abandoned, expired). A challenge or a slow_down that raced a
   * successful verification must not bring the consumed pending login back.
   */
  save (id: string, record: PendingLogin): Promise<boolean>
  destroy (id: string): Promise<void>
}

/**
 * Pending logins are kept in a session store: with Redis the sessions' own (so all replicas share them, sealed at
 * rest, under keys that expire and are never evicted), in memory mode a bounded LRU of their own (plugins/sessions.ts),
 * so no number of pending logins can evict a session. Each is a distinct record kind under a distinct hashed key:
 * SHA-256 of `mfa-pending:` + id. A session id never hashes to it, so a pending id cannot be used as a session, nor
 * the other way round.
 */
export function pendingLoginKey (id: string): string {
  return createHash('sha256').update(`mfa-pending:${id}`).digest('base64url')
}

export function createPendingLogins (options: { store: SessionStore, clock: Clock, ttlMs: number }): PendingLogins {
  const { store, clock, ttlMs } = options

  // The stores take SessionRecord; they only serialise it (JSON) and split out lastSeenAt, so a pending login travels
  // as one with the fields they read (createdAt, lastSeenAt) and its own `kind`. load() checks the kind.
  const toStored = (record: PendingLogin): SessionRecord => ({ ...record, lastSeenAt: record.createdAt }) as unknown as SessionRecord

  return {
    async create (login) {
      const now = clock.now()
      const id = newSessionId()
      const record: PendingLogin = { ...login, kind: 'mfa_pending', createdAt: now, expiresAt: now + ttlMs }
      await store.set(pendingLoginKey(id), toStored(record), ttlMs)
      return { id, record }
    },

    async load (id) {
      if (!isWellFormedSessionId(id)) return undefined
      const stored = await store.get(pendingLoginKey(id)) as unknown as (Partial<PendingLogin> & { lastSeenAt?: number }) | undefined
      if (stored?.kind !== 'mfa_pending' || typeof stored.expiresAt !== 'number') return undefined
      if (clock.now() >= stored.expiresAt) {
        await store.delete(pendingLoginKey(id))
        return undefined
      }
      const { lastSeenAt: _lastSeenAt, ...record } = stored
      return record as PendingLogin
    },

    async save (id, record) {
      const left = record.expiresAt - clock.now()
      if (left <= 0) return false
      const key = pendingLoginKey(id)
      if (store.replace !== undefined) return await store.replace(key, toStored(record), left)
      // A store without a conditional write (an injected one): read, then write; the window between them remains.
      if (await store.get(key) === undefined) return false
      await store.set(key, toStored(record), left)
      return true
    },

    async destroy (id) {
      if (isWellFormedSessionId(id)) await store.delete(pendingLoginKey(id))
    }
  }
}
