/**
 * Keeps sessions' access tokens valid: a refresh inside the window runs in the background, only an expired token
 * waits, at most one token-endpoint call per session at a time (single flight here, the refresh lock across
 * replicas), and never faster than the IdP allows. What to do with a token is decide()'s answer (decide.ts).
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from '../clock.js'
import { GatewayError } from '../errors.js'
import type { RefreshOutcome } from '../metrics/metrics.js'
import type { RefreshLock } from '../session/refresh-lock.js'
import { storageKey } from '../session/session-id.js'
import type { SessionRecord } from '../session/session-store.js'
import type { Sessions } from '../session/sessions.js'
import { profileClaims, type IdTokenVerifier } from '../token/id-token.js'
import { IdpError } from '../token/idp-error.js'
import { misconfigurationHint } from '../token/login-errors.js'
import type { TokenClient } from '../token/token-client.js'
import type { TokenSet } from '../token/token-set.js'
import { decide, spreadFor, type Decision, type DeferCode, type RefreshSettings } from './decide.js'
import { createGlobalLimit } from './global-limit.js'
import { classifyRefreshFailure } from './refresh-failure.js'
import { rotate } from './rotation.js'
import { singleFlight } from './single-flight.js'

/** What the refresher needs of a logger (pino, Fastify's request logger). */
export interface RefreshLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export interface RefreshContext {
  /** The client IP, given to the IdP (auth0-forwarded-for). */
  readonly ip: string
  /** The request's logger, so the lines carry its request id. */
  readonly log: RefreshLogger
  /** Refresh even if the token looks valid (it was refused). */
  readonly force?: boolean
}

/** A request whose access token was refused (FastifyRequest is one): renewRefused updates its session and token. */
export interface RefusedRequest {
  readonly sessionId: string
  readonly ip: string
  readonly log: RefreshLogger
  accessToken: string
  gatewaySession: SessionRecord | null
}

/** How the refresher waits for another replica's refresh: injectable like the clock, so tests never sleep. */
export interface Waits {
  sleep (ms: number): Promise<void>
  /** A monotonic time, ms (the wait's deadline does not move with the wall clock). */
  monotonicNow (): number
}

export const realWaits: Waits = {
  sleep: async ms => { await sleep(ms) },
  monotonicNow: () => performance.now()
}

export interface RefresherOptions {
  readonly sessions: Pick<Sessions, 'peek' | 'saveIfLive' | 'end'>
  readonly tokenClient: Pick<TokenClient, 'refresh' | 'revoke'>
  readonly verifier: Pick<IdTokenVerifier, 'verify'>
  /** One refresh per session at a time, across replicas. */
  readonly lock: RefreshLock
  readonly clock: Clock
  readonly settings: RefreshSettings & {
    /** IDP_TIMEOUT: the longest a token call (or an id_token check) takes, and so a wait for another replica's. */
    readonly idpTimeoutMs: number
  }
  /** Each refresh's outcome (metrics). */
  readonly onOutcome?: (outcome: RefreshOutcome) => void
  readonly waits?: Waits
}

export interface Refresher {
  /** What to do with the session's access token now (decide() with this gateway's settings and back-off). */
  decide (sessionId: string, record: SessionRecord): Decision
  /** Refreshes now unless another refresh of the session is running (then joins it). `force` skips the freshness check. */
  refresh (sessionId: string, context: RefreshContext): Promise<SessionRecord>
  /** refresh() without waiting for it: a failure is logged at debug (the next request decides again). */
  refreshInBackground (sessionId: string, context: RefreshContext): void
  /**
   * The access token has expired: waits for the session's refresh. A session that cannot be renewed (the IdP refused
   * its refresh token, or it has none) is ended (`token_expired`) and this throws session_expired.
   */
  renewExpired (sessionId: string, context: RefreshContext): Promise<SessionRecord>
  /**
   * The request's access token was refused (an upstream or the IdP answered 401 invalid_token): takes the session's
   * newer token if another request already refreshed it, else forces one refresh. Updates request.gatewaySession and
   * request.accessToken; throws like refresh.
   */
  renewRefused (request: RefusedRequest): Promise<SessionRecord>
  /** Refreshes in flight in this process. */
  readonly inflight: number
}

/** After a transient IdP failure, the session's next refresh waits this long. */
const TRANSIENT_BACKOFF_MS = 2_000
/** A replica waiting for another's refresh re-reads the session after this long, doubling up to the max. */
const WAIT_POLL_FIRST_MS = 20
const WAIT_POLL_MAX_MS = 200

export function createRefresher (options: RefresherOptions): Refresher {
  const { sessions, tokenClient, verifier, lock, clock, settings, onOutcome = () => {}, waits = realWaits } = options
  const flights = singleFlight<string, SessionRecord>()
  const globalLimit = createGlobalLimit()
  /** decide()'s state: the settings and the gateway-wide back-off, which a 429 may move. */
  const state = { skewMs: settings.skewMs, minIntervalMs: settings.minIntervalMs, globalNotBefore: 0 }
  /**
   * The refresh lock's lease: the token call and an id_token check (a JWKS fetch at worst) each end within
   * IDP_TIMEOUT, plus a margin for the store writes. A holder that dies blocks the session's refresh this long.
   */
  const lockLeaseMs = 2 * settings.idpTimeoutMs + 1_000

  function deferred (code: DeferCode, untilMs: number, cause?: unknown): GatewayError {
    const retryAfter = Math.max(1, Math.ceil((untilMs - clock.now()) / 1000))
    return new GatewayError(code, { statusCode: 503, retryAfter, cause })
  }

  /** decide() for a refresh about to be made: the record to use as is, or undefined to refresh now; throws when it cannot. */
  function settled (record: SessionRecord, sessionId: string, force: boolean): SessionRecord | undefined {
    const decision = decide(record, clock.now(), state, spreadFor(sessionId), force)
    switch (decision.kind) {
      case 'use': return record
      case 'end': throw new GatewayError('session_expired')
      case 'defer': throw deferred(decision.code, decision.until)
      default: return undefined
    }
  }

  async function runRefresh (sessionId: string, context: RefreshContext): Promise<SessionRecord> {
    const force = context.force === true
    const seen = await sessions.peek(sessionId)
    if (seen === undefined) throw new GatewayError('no_session')
    // Another request (or replica) may have refreshed since this request read the session.
    const usable = settled(seen, sessionId, force)
    if (usable !== undefined) return usable
    // Across replicas: one lock per session; the others wait for the holder's result instead of redeeming the same token.
    const release = await lock.acquire(storageKey(sessionId), lockLeaseMs)
    if (release === undefined) return await awaitOtherRefresh(sessionId, seen, context.log)
    try {
      // Re-read under the lock: a replica that held it a moment ago may have rotated the tokens already.
      const current = await sessions.peek(sessionId)
      if (current === undefined) throw new GatewayError('no_session')
      if (current.version !== seen.version) return current
      return settled(current, sessionId, force) ?? await redeem(sessionId, current, context)
    } finally {
      await release()
    }
  }

  /**
   * Another replica holds the session's refresh lock: poll the record until its version changes (the holder's new
   * tokens) or the holder records a failure, for at most the IdP timeout. Then a still-valid token is used as is;
   * an expired one is a 503 with Retry-After (the holder may have died; its lease ends the lock).
   */
  async function awaitOtherRefresh (sessionId: string, seen: SessionRecord, log: RefreshLogger): Promise<SessionRecord> {
    const deadline = waits.monotonicNow() + settings.idpTimeoutMs
    let delay = WAIT_POLL_FIRST_MS
    for (;;) {
      await waits.sleep(Math.max(1, Math.min(delay, deadline - waits.monotonicNow())))
      const latest = await sessions.peek(sessionId)
      if (latest === undefined) throw new GatewayError('no_session')
      if (latest.version !== seen.version) return latest
      if (latest.refreshNotBefore !== seen.refreshNotBefore) {
        // The holder failed and recorded when to try again: the same answer here.
        if (settled(latest, sessionId, false) === undefined && clock.now() >= latest.expiresAt) throw deferred('idp_unavailable', clock.now() + 1_000)
        return latest
      }
      if (waits.monotonicNow() >= deadline) break
      delay = Math.min(delay * 2, WAIT_POLL_MAX_MS)
    }
    log.warn({ event: 'refresh', outcome: 'lock_wait_timeout' }, 'another replica holds this session\'s refresh lock and has not finished within IDP_TIMEOUT')
    if (clock.now() < seen.expiresAt) return seen
    throw deferred('idp_unavailable', clock.now() + 1_000)
  }

  async function redeem (sessionId: string, current: SessionRecord, context: RefreshContext): Promise<SessionRecord> {
    const { log } = context
    const refreshToken = current.refreshToken
    /* c8 ignore next -- decide() ends a record without a refresh token */
    if (refreshToken === undefined) throw new GatewayError('session_expired')
    let tokens: TokenSet
    try {
      tokens = await tokenClient.refresh(refreshToken, { ip: context.ip })
    } catch (err) {
      /* c8 ignore next -- the token client only throws IdpError */
      if (!(err instanceof IdpError)) throw err
      throw await refreshFailed(sessionId, current, err, log)
    }
    const next = rotate(current, tokens, await userFrom(current, tokens, log), clock.now())
    if (!await sessions.saveIfLive(sessionId, next)) {
      // Logged out while the refresh was in flight: do not bring the session back, and retire the new token.
      if (tokens.refreshToken !== undefined) void tokenClient.revoke(tokens.refreshToken, { ip: context.ip }).catch(() => {})
      throw new GatewayError('no_session')
    }
    log.debug({ event: 'refresh', outcome: 'ok', version: next.version }, 'access token refreshed')
    onOutcome('ok')
    return next
  }

  /** The user's claims from the refresh's id_token; the previous ones when there is none or it fails verification. */
  async function userFrom (current: SessionRecord, tokens: TokenSet, log: RefreshLogger): Promise<SessionRecord['user']> {
    if (tokens.idToken === undefined) return current.user
    try {
      return profileClaims(await verifier.verify(tokens.idToken))
    } catch (err) {
      // The access token is what the session needs; keep the previous claims rather than drop the session.
      log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'id_token from refresh failed verification; keeping the previous claims')
      return current.user
    }
  }

  async function refreshFailed (sessionId: string, current: SessionRecord, err: IdpError, log: RefreshLogger): Promise<GatewayError> {
    const now = clock.now()
    const failure = classifyRefreshFailure(err)
    if (failure === 'refused') {
      log.info({ event: 'refresh', outcome: 'invalid_grant', idp: err.toJSON() }, 'refresh token refused; session ended')
      onOutcome('invalid_grant')
      await sessions.end(sessionId, 'refresh_refused', { log })
      return new GatewayError('session_expired', { cause: err })
    }
    if (failure === 'rate_limited') {
      const until = now + (err.retryAfter ?? 1) * 1000
      state.globalNotBefore = Math.max(state.globalNotBefore, globalLimit.note(sessionId, err.description, now, until))
      await sessions.saveIfLive(sessionId, { ...current, refreshNotBefore: until, refreshBlockedBy: 'refresh_rate_limited' })
      log.warn({ event: 'refresh', outcome: 'rate_limited', retryAfter: err.retryAfter }, 'identity provider rate limited a refresh')
      onOutcome('rate_limited')
      return deferred('refresh_rate_limited', until, err)
    }
    if (failure === 'misconfigured') {
      log.error({ idp: err.toJSON() }, `refresh refused: ${misconfigurationHint(err)}`)
    } else {
      log.warn({ event: 'refresh', outcome: 'transient', idp: err.toJSON() }, 'refresh failed; the session is kept')
    }
    onOutcome('transient')
    const until = now + TRANSIENT_BACKOFF_MS
    await sessions.saveIfLive(sessionId, { ...current, refreshNotBefore: until, refreshBlockedBy: 'idp_unavailable' })
    return deferred('idp_unavailable', until, err)
  }

  const refresher: Refresher = {
    decide (sessionId, record) {
      return decide(record, clock.now(), state, spreadFor(sessionId))
    },
    async refresh (sessionId, context) {
      return await flights.run(sessionId, async () => await runRefresh(sessionId, context))
    },
    refreshInBackground (sessionId, context) {
      refresher.refresh(sessionId, context).catch((err: unknown) => {
        context.log.debug({ code: err instanceof GatewayError ? err.code : 'error' }, 'background refresh did not complete')
      })
    },
    async renewExpired (sessionId, context) {
      try {
        return await refresher.refresh(sessionId, context)
      } catch (err) {
        if (!(err instanceof GatewayError && (err.code === 'session_expired' || err.code === 'no_session'))) throw err
        // Already ended if the IdP refused the token; otherwise there is no refresh token to renew it with.
        await sessions.end(sessionId, 'token_expired', { ip: context.ip, log: context.log })
        throw new GatewayError('session_expired', { cause: err })
      }
    },
    async renewRefused (request) {
      const refused = request.accessToken
      const stored = await sessions.peek(request.sessionId)
      const record = stored !== undefined && stored.accessToken !== refused
        ? stored
        : await refresher.refresh(request.sessionId, { ip: request.ip, log: request.log, force: true })
      request.gatewaySession = record
      request.accessToken = record.accessToken
      return record
    },
    get inflight () { return flights.pending }
  }
  return refresher
}
