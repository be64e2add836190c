import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../src/clock.js'
import { GatewayError } from '../src/errors.js'
import { refreshAllowedAt, spreadFor, tokenState } from '../src/refresh/refresh-policy.js'
import { singleFlight } from '../src/refresh/single-flight.js'
import { storageKey } from '../src/session/session-id.js'
import type { SessionRecord } from '../src/session/session-store.js'
import { profileClaims } from '../src/token/id-token.js'
import { IdpError } from '../src/token/idp-error.js'
import { isClientAuthenticationFailure, misconfigurationHint } from '../src/token/login-errors.js'
import type { TokenSet } from '../src/token/token-set.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * preHandler: a live session (else 401 no_session, like requireSession) and request.accessToken set to a valid
     * token, refreshed when needed. One hook rather than two: one hook step less on every proxied request.
     */
    requireAccessToken: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    refresher: Refresher
  }
  interface FastifyRequest {
    accessToken: string
  }
}

export interface Refresher {
  /** Refreshes now unless another refresh of the session is running (then joins it). `force` skips the freshness check. */
  refresh (sessionId: string, context: RefreshContext): Promise<SessionRecord>
  /**
   * The request's access token was refused (an upstream or the IdP answered 401 invalid_token): takes the session's
   * newer token if another request already refreshed it, else forces one refresh. Updates request.session and
   * request.accessToken; throws like refresh.
   */
  renewRefused (request: FastifyRequest): Promise<SessionRecord>
  /** Refreshes in flight in this process. */
  readonly inflight: number
}

interface RefreshContext { ip: string, log: FastifyBaseLogger, force?: boolean }

export interface RefreshPluginOptions { clock: Clock }

/** After a transient IdP failure, the session's next refresh waits this long. */
const TRANSIENT_BACKOFF_MS = 2_000
/** A 429 for this many different sessions within the window below means the whole client is limited. */
const GLOBAL_LIMIT_SESSIONS = 3
const GLOBAL_LIMIT_WINDOW_MS = 10_000
/** A replica waiting for another's refresh re-reads the session after this long, doubling up to the max. */
const WAIT_POLL_FIRST_MS = 20
const WAIT_POLL_MAX_MS = 200

/**
 * The refresh plugin keeps access tokens valid: refresh inside the window in the background, wait only when the
 * token has expired, at most one token-endpoint call per session at a time, and never faster than the IdP allows.
 */
async function refreshPlugin (fastify: FastifyInstance, opts: RefreshPluginOptions): Promise<void> {
  const { clock } = opts
  const { refresh: settings } = fastify.config
  const flights = singleFlight<string, SessionRecord>()
  /** Gateway-wide back-off after the IdP limited the whole client, epoch ms. */
  let globalNotBefore = 0
  const recentLimits = new Map<string, number>()
  /**
   * The refresh lock's lease: the token call and an id_token check (a JWKS fetch at worst) each end within
   * IDP_TIMEOUT, plus a margin for the store writes. A holder that dies blocks the session's refresh this long.
   */
  const lockLeaseMs = 2 * fastify.config.idp.timeoutMs + 1_000

  function deferred (code: 'refresh_rate_limited' | 'idp_unavailable', untilMs: number, cause?: unknown): GatewayError {
    const retryAfter = Math.max(1, Math.ceil((untilMs - clock.now()) / 1000))
    return new GatewayError(code, { statusCode: 503, retryAfter, cause })
  }

  /** Remembers a 429; several sessions limited at once, or a description saying so, back the whole gateway off. */
  function noteRateLimit (sessionId: string, err: IdpError, until: number): void {
    const now = clock.now()
    recentLimits.set(sessionId, now)
    for (const [id, at] of recentLimits) if (now - at > GLOBAL_LIMIT_WINDOW_MS) recentLimits.delete(id)
    if (/global/i.test(err.description ?? '') || recentLimits.size >= GLOBAL_LIMIT_SESSIONS) {
      const jitter = Math.random() * Math.max(1000, (until - now) / 2)
      globalNotBefore = Math.max(globalNotBefore, until + jitter)
    }
  }

  async function applyTokens (current: SessionRecord, tokens: TokenSet, now: number, log: FastifyBaseLogger): Promise<SessionRecord> {
    let user = current.user
    if (tokens.idToken !== undefined) {
      try {
        user = profileClaims(await fastify.idTokenVerifier.verify(tokens.idToken))
      } catch (err) {
        // The access token is what the session needs; keep the previous claims rather than drop the session.
        log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'id_token from refresh failed verification; keeping the previous claims')
      }
    }
    const { refreshNotBefore: _notBefore, refreshBlockedBy: _blockedBy, ...rest } = current
    return {
      ...rest,
      user,
      accessToken: tokens.accessToken,
      // Rotation: a returned refresh token replaces the stored one, together with the access token.
      ...(tokens.refreshToken === undefined ? {} : { refreshToken: tokens.refreshToken }),
      expiresAt: tokens.expiresAt,
      lifetimeMs: tokens.lifetimeMs,
      scope: tokens.scope ?? current.scope,
      version: current.version + 1,
      lastRefreshAt: now
    }
  }

  /** Throws when the session cannot be refreshed now; true when it needs no refresh (someone else did it). */
  function checkRefreshable (record: SessionRecord, sessionId: string, force: boolean): boolean {
    const now = clock.now()
    if (!force && tokenState(record, now, settings, spreadFor(sessionId)) === 'fresh') return true
    if (record.refreshToken === undefined) throw new GatewayError('session_expired')
    const allowedAt = Math.max(refreshAllowedAt(record, settings.minIntervalMs), globalNotBefore)
    if (now < allowedAt) {
      const code = record.refreshNotBefore !== undefined && record.refreshNotBefore > now ? record.refreshBlockedBy ?? 'idp_unavailable' : 'refresh_rate_limited'
      throw deferred(code, allowedAt)
    }
    return false
  }

  async function runRefresh (sessionId: string, context: RefreshContext): Promise<SessionRecord> {
    const { log } = context
    const seen = await fastify.sessions.peek(sessionId)
    if (seen === undefined) throw new GatewayError('no_session')
    // Another request (or replica) may have refreshed since this request read the session.
    if (checkRefreshable(seen, sessionId, context.force === true)) return seen
    // Across replicas: one lock per session; the others wait for the holder's result instead of redeeming the same token.
    const release = await fastify.refreshLock.acquire(storageKey(sessionId), lockLeaseMs)
    if (release === undefined) return await awaitOtherRefresh(sessionId, seen, log)
    try {
      // Re-read under the lock: a replica that held it a moment ago may have rotated the tokens already.
      const current = await fastify.sessions.peek(sessionId)
      if (current === undefined) throw new GatewayError('no_session')
      if (current.version !== seen.version) return current
      if (checkRefreshable(current, sessionId, context.force === true)) return current
      return await redeem(sessionId, current, context)
    } finally {
      await release()
    }
  }

  /**
   * Another replica holds the session's refresh lock: poll the record until its version changes (the holder's new
   * tokens) or the holder records a failure, for at most the IdP timeout. Then a still-valid token is used as is;
   * an expired one is a 503 with Retry-After (the holder may have died; its lease ends the lock).
   */
  async function awaitOtherRefresh (sessionId: string, seen: SessionRecord, log: FastifyBaseLogger): Promise<SessionRecord> {
    const deadline = performance.now() + fastify.config.idp.timeoutMs
    let delay = WAIT_POLL_FIRST_MS
    for (;;) {
      await sleep(Math.max(1, Math.min(delay, deadline - performance.now())))
      const latest = await fastify.sessions.peek(sessionId)
      if (latest === undefined) throw new GatewayError('no_session')
      if (latest.version !== seen.version) return latest
      if (latest.refreshNotBefore !== seen.refreshNotBefore) {
        // The holder failed and recorded when to try again: the same answer here.
        if (!checkRefreshable(latest, sessionId, false) && clock.now() >= latest.expiresAt) throw deferred('idp_unavailable', clock.now() + 1_000)
        return latest
      }
      if (performance.now() >= deadline) break
      delay = Math.min(delay * 2, WAIT_POLL_MAX_MS)
    }
    log.warn({ event: 'refresh', outcome: 'lock_wait_timeout' }, 'another replica holds this session\'s refresh lock and has not finished within IDP_TIMEOUT')
    if (clock.now() < seen.expiresAt) return seen
    throw deferred('idp_unavailable', clock.now() + 1_000)
  }

  async function redeem (sessionId: string, current: SessionRecord, context: RefreshContext): Promise<SessionRecord> {
    const { log } = context
    const refreshToken = current.refreshToken
    /* c8 ignore next -- checkRefreshable rejects a record without a refresh token */
    if (refreshToken === undefined) throw new GatewayError('session_expired')
    let tokens: TokenSet
    try {
      tokens = await fastify.tokenClient.refresh(refreshToken, { ip: context.ip })
    } catch (err) {
      /* c8 ignore next -- the token client only throws IdpError */
      if (!(err instanceof IdpError)) throw err
      throw await refreshFailed(sessionId, current, err, log)
    }
    const next = await applyTokens(current, tokens, clock.now(), log)
    if (!await fastify.sessions.saveIfLive(sessionId, next)) {
      // Logged out while the refresh was in flight: do not bring the session back, and retire the new token.
      if (tokens.refreshToken !== undefined) void fastify.tokenClient.revoke(tokens.refreshToken, { ip: context.ip }).catch(() => {})
      throw new GatewayError('no_session')
    }
    log.debug({ event: 'refresh', outcome: 'ok', version: next.version }, 'access token refreshed')
    fastify.metrics?.refreshOutcome('ok')
    return next
  }

  async function refreshFailed (sessionId: string, current: SessionRecord, err: IdpError, log: FastifyBaseLogger): Promise<GatewayError> {
    const now = clock.now()
    if ((err.error === 'invalid_grant' || err.error === 'access_denied') && !isClientAuthenticationFailure(err)) {
      log.info({ event: 'refresh', outcome: 'invalid_grant', idp: err.toJSON() }, 'refresh token refused; session ended')
      fastify.metrics?.refreshOutcome('invalid_grant')
      await fastify.sessions.end(sessionId, 'refresh_refused', { log })
      return new GatewayError('session_expired', { cause: err })
    }
    if (err.status === 429) {
      const until = now + (err.retryAfter ?? 1) * 1000
      noteRateLimit(sessionId, err, until)
      await fastify.sessions.saveIfLive(sessionId, { ...current, refreshNotBefore: until, refreshBlockedBy: 'refresh_rate_limited' })
      log.warn({ event: 'refresh', outcome: 'rate_limited', retryAfter: err.retryAfter }, 'identity provider rate limited a refresh')
      fastify.metrics?.refreshOutcome('rate_limited')
      return deferred('refresh_rate_limited', until, err)
    }
    if (err.kind === 'oauth' && err.error !== 'temporarily_unavailable') {
      log.error({ idp: err.toJSON() }, `refresh refused: ${misconfigurationHint(err)}`)
    } else {
      log.warn({ event: 'refresh', outcome: 'transient', idp: err.toJSON() }, 'refresh failed; the session is kept')
    }
    fastify.metrics?.refreshOutcome('transient') // metrics are optional: the plugin also runs without them
    const until = now + TRANSIENT_BACKOFF_MS
    await fastify.sessions.saveIfLive(sessionId, { ...current, refreshNotBefore: until, refreshBlockedBy: 'idp_unavailable' })
    return deferred('idp_unavailable', until, err)
  }

  const refresher: Refresher = {
    async refresh (sessionId, context) {
      return await flights.run(sessionId, async () => await runRefresh(sessionId, context))
    },
    async renewRefused (request) {
      const refused = request.accessToken
      const stored = await fastify.sessions.peek(request.sessionId)
      const record = stored !== undefined && stored.accessToken !== refused
        ? stored
        : await refresher.refresh(request.sessionId, { ip: request.ip, log: request.log, force: true })
      request.session = record
      request.accessToken = record.accessToken
      return record
    },
    get inflight () { return flights.pending }
  }
  fastify.decorate('refresher', refresher)
  fastify.decorateRequest('accessToken', '')

  /**
   * Sets request.accessToken for the request's live session. A token that is still valid is used at once (a refresh
   * inside the window starts in the background); only an expired one waits, and only then is there a promise.
   */
  function ensureFreshAccessToken (request: FastifyRequest, reply: FastifyReply, record: SessionRecord): Promise<void> | undefined {
    const sessionId = request.sessionId
    const state = tokenState(record, clock.now(), settings, spreadFor(sessionId))
    if (state === 'expired') return awaitRefresh(request, reply, sessionId)
    request.accessToken = record.accessToken
    if (state === 'refresh-soon' && record.refreshToken !== undefined && clock.now() >= refreshAllowedAt(record, settings.minIntervalMs)) {
      refresher.refresh(sessionId, { ip: request.ip, log: request.log }).catch((err: unknown) => {
        request.log.debug({ code: err instanceof GatewayError ? err.code : 'error' }, 'background refresh did not complete')
      })
    }
    return undefined
  }

  /** The access token has expired: wait for the session's refresh; a session the IdP ended is ended here too. */
  async function awaitRefresh (request: FastifyRequest, reply: FastifyReply, sessionId: string): Promise<void> {
    try {
      const next = await refresher.refresh(sessionId, { ip: request.ip, log: request.log })
      request.session = next
      request.accessToken = next.accessToken
    } catch (err) {
      if (err instanceof GatewayError && (err.code === 'session_expired' || err.code === 'no_session')) {
        // Already ended if the IdP refused the token; otherwise there is no refresh token to renew it with.
        await fastify.sessions.end(sessionId, 'token_expired', { ip: request.ip, log: request.log })
        request.session = null
        reply.clearSessionCookie()
        throw new GatewayError('session_expired', { cause: err })
      }
      throw err
    }
  }

  fastify.decorate('requireAccessToken', async function (request: FastifyRequest, reply: FastifyReply) {
    await fastify.loadSession(request, reply)
    const record = request.session
    if (record === null) throw new GatewayError('no_session')
    const refreshing = ensureFreshAccessToken(request, reply, record)
    if (refreshing !== undefined) await refreshing
  })
}

export default fp(refreshPlugin, { fastify: '5.x', name: 'bff-refresh', dependencies: ['bff-config', 'bff-auth', 'bff-sessions'] })
