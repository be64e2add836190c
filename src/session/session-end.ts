/**
 * The one place a session ends (issue #15), whatever the cause. The caller has already taken the record out of the
 * store (or the store dropped it itself: LRU eviction, expiry); only the one that took it calls finish(), so each
 * refresh token is revoked once. finish():
 *   (a) revokes the refresh token at the IdP (a failure is logged and never keeps the session alive);
 *   (b) logs `{ event: 'session_ended', reason, sub, revocation }`;
 *   (c) tells the listeners in this process (the WebSocket tunnel registry) the storage key;
 *   (d) publishes the storage key on the bus (Redis pub/sub), so other replicas close their tunnels too.
 */
import { randomBytes } from 'node:crypto'
import type { SessionRecord } from './session-store.js'

/** Why a session ended: the `reason` of the `session_ended` log event. */
export type EndReason =
  | 'logout' // DELETE /session
  | 'logout_all' // DELETE /session/all (all, or the others) and DELETE /session/all/:handle
  | 'admin' // the admin API ended it
  | 'idle_timeout'
  | 'absolute_timeout'
  | 'evicted' // the memory store at SESSION_MAX_ENTRIES dropped its least recently used session
  | 'refresh_refused' // the IdP refused the refresh token (invalid_grant, access_denied)
  | 'token_expired' // the access token expired and there is no refresh token to renew it
  | 'session_limit' // MAX_SESSIONS_PER_USER: the user's oldest session made room for a new one
  | 'replaced' // a login on a request that came with a session (session fixation defence)
  | 'expired' // Redis forgot the session before a sweeper claimed it: nothing left to revoke

/** What the ender needs of a logger (pino, Fastify's). */
export interface EndLogger {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

export interface EndContext {
  /** The client IP to give the IdP with the revocation (Auth0 forwards it). */
  readonly ip?: string | undefined
  /** The request's logger, so the event carries its request id; the ender's own otherwise. */
  readonly log?: EndLogger | undefined
}

export type RevokeRefreshToken = (refreshToken: string, context: { ip?: string }) => Promise<void>

/** How replicas tell each other a session ended (Redis pub/sub); the message is the storage key. */
export interface EndBus {
  publish (message: string): Promise<void>
  /** Called with every message published by any replica, this one included. */
  subscribe (listener: (message: string) => void): void
  close (): Promise<void>
}

export type EndListener = (key: string) => void

export interface SessionEnder {
  /** Ends a session whose record is already out of the store: revokes, logs, notifies; resolves when revoked. */
  finish (key: string, record: SessionRecord, reason: EndReason, context?: EndContext): Promise<void>
  /** A session that is gone with nothing to revoke (Redis TTL before the sweeper): logs and notifies. */
  lost (key: string): Promise<void>
  /** Listens to the ends of sessions, on this replica and (with a bus) on the others. Returns the unsubscribe. */
  onEnded (listener: EndListener): () => void
  /** The IdP revocation (the token client exists only once the auth plugin has started). */
  setRevoker (revoke: RevokeRefreshToken): void
  /** Resolves when every finish() started so far has settled (app close). */
  drain (): Promise<void>
}

export interface SessionEnderOptions {
  readonly log: EndLogger
  readonly bus?: EndBus | undefined
}

/** True for a session's record; the store may also hold other kinds (MFA pending logins), which never "end". */
export function isSessionRecord (record: unknown): record is SessionRecord {
  return typeof record === 'object' && record !== null && !('kind' in record) &&
    typeof (record as Partial<SessionRecord>).accessToken === 'string'
}

export function createSessionEnder (options: SessionEnderOptions): SessionEnder {
  const { log, bus } = options
  let revoke: RevokeRefreshToken | undefined
  const listeners = new Set<EndListener>()
  const pending = new Set<Promise<void>>()
  // Messages carry this replica's id, so its own publications (already told locally) are not told twice.
  const replicaId = randomBytes(6).toString('base64url')

  const notifyLocal = (key: string): void => {
    for (const listener of listeners) {
      try {
        listener(key)
      } catch (err) {
        log.warn({ err }, 'a session_ended listener failed')
      }
    }
  }

  bus?.subscribe(message => {
    const colon = message.indexOf(':')
    if (colon <= 0 || message.slice(0, colon) === replicaId) return
    notifyLocal(message.slice(colon + 1))
  })

  async function announce (key: string, logger: EndLogger): Promise<void> {
    notifyLocal(key)
    if (bus === undefined) return
    try {
      await bus.publish(`${replicaId}:${key}`)
    } catch (err) {
      logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'cannot tell the other replicas that a session ended; their tunnels close at their next sweep')
    }
  }

  async function revokeOf (record: SessionRecord, context: EndContext, logger: EndLogger): Promise<'ok' | 'failed' | 'none'> {
    if (record.refreshToken === undefined) return 'none'
    if (revoke === undefined) return 'failed'
    try {
      await revoke(record.refreshToken, context.ip === undefined ? {} : { ip: context.ip })
      return 'ok'
    } catch (err) {
      const idp = typeof (err as { toJSON?: unknown }).toJSON === 'function' ? (err as { toJSON: () => unknown }).toJSON() : { message: String(err) }
      logger.warn({ idp }, 'refresh token revocation failed; the session is ended anyway')
      return 'failed'
    }
  }

  function track (work: Promise<void>): Promise<void> {
    pending.add(work)
    const settled = (): void => { pending.delete(work) }
    work.then(settled, settled)
    return work
  }

  return {
    async finish (key, record, reason, context = {}) {
      const logger = context.log ?? log
      await track((async () => {
        // Tunnels close first: revocation waits for the IdP, the cut-off should not.
        const announced = announce(key, logger)
        const revocation = await revokeOf(record, context, logger)
        logger.info({ event: 'session_ended', reason, sub: record.sub, revocation }, 'session ended')
        await announced
      })())
    },

    async lost (key) {
      await track((async () => {
        log.warn({ event: 'session_ended', reason: 'expired', revocation: 'lost' }, 'a session expired in the store before the sweeper found it; its refresh token could not be revoked')
        await announce(key, log)
      })())
    },

    onEnded (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },

    setRevoker (fn) { revoke = fn },

    async drain () {
      while (pending.size > 0) await Promise.allSettled([...pending])
    }
  }
}
