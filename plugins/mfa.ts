import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../src/clock.js'
import { ERROR_CATALOG, GatewayError } from '../src/errors.js'
import { createMfaApi, type MfaAuthenticator } from '../src/mfa/mfa-api.js'
import { mfaError } from '../src/mfa/mfa-errors.js'
import type { MfaGrant } from '../src/mfa/mfa-grant.js'
import { pollStatusOf, SLOW_DOWN_STEP_SEC, type MfaStatusCode } from '../src/mfa/mfa-status.js'
import { createPendingLogins, PENDING_LOGIN_TTL_MS, type PendingLogin, type PendingLogins } from '../src/mfa/pending-logins.js'
import type { SessionRecord } from '../src/session/session-store.js'
import { IdpError } from '../src/token/idp-error.js'
import { loginError, misconfigurationHint } from '../src/token/login-errors.js'
import type { TokenSet } from '../src/token/token-set.js'
import type { Credentials } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    mfa: {
      /**
       * Called by POST /session when the IdP answered mfa_required: keeps the mfa_token in a pending login (own
       * cookie), lists the user's authenticators and answers 401 mfa_required with them (or 403
       * mfa_enrollment_required when there are none).
       */
      begin (request: FastifyRequest, reply: FastifyReply, err: GatewayError, credentials: Credentials): Promise<FastifyReply>
      readonly pendingLogins: PendingLogins
      /** The pending login id in the request's `-mfa` cookie (validly signed), or undefined. */
      pendingIdOf (request: FastifyRequest): string | undefined
      /** The request's live pending login; else 401 mfa_expired (and a stale `-mfa` cookie is cleared). */
      requirePending (request: FastifyRequest, reply: FastifyReply): Promise<Pending>
      /** Challenges one of the pending login's authenticators (not a recovery code): what the user does next. */
      challenge (request: FastifyRequest, reply: FastifyReply, pending: Pending, authenticator: MfaAuthenticator): Promise<MfaChallengeAnswer>
      /** Sends a second factor (or a push poll) to the IdP: the new session, or a push still waiting. */
      verify (request: FastifyRequest, reply: FastifyReply, pending: Pending, grant: MfaGrant): Promise<MfaOutcome>
    }
  }
}

export interface MfaPluginOptions {
  clock: Clock
}

export interface Pending {
  readonly id: string
  readonly record: PendingLogin
}

/** otp: type the authenticator app's code; binding_code: type the code sent by SMS/voice/email; push: approve on the device, then poll. */
export type MfaChallengeAnswer = { challenge: 'otp' } | { challenge: 'binding_code' } | { challenge: 'push', interval: number }

export type MfaOutcome =
  | { readonly done: true, readonly session: SessionRecord, readonly tokens: TokenSet, readonly transport: PendingLogin['transport'] }
  | { readonly done: false, readonly status: MfaStatusCode, readonly interval: number }

/**
 * MFA continuation of a password login (reference §8): the pending login and its steps at the IdP. The mfa_token and
 * any oob_code stay in the pending login on the server; the client only holds a signed random id in its own cookie
 * (`<COOKIE_NAME>-mfa`, same attributes as the session cookie, 5 minutes). The routes are routes/mfa.ts.
 */
async function mfaPlugin (fastify: FastifyInstance, opts: MfaPluginOptions): Promise<void> {
  const { idp, cookie: cookieSettings, mfa: mfaSettings } = fastify.config
  const pendingCookie = `${cookieSettings.name}-mfa`
  const api = createMfaApi({ issuer: idp.issuer, auth: fastify.idpClientAuth, clock: opts.clock, timeoutMs: idp.timeoutMs, forwardClientIp: idp.auth0Extensions, fetch: fastify.idpFetch })
  const pendingLogins = createPendingLogins({ store: fastify.pendingLoginStore, clock: opts.clock, ttlMs: PENDING_LOGIN_TTL_MS })

  function pendingIdOf (request: FastifyRequest): string | undefined {
    const raw = request.cookies[pendingCookie]
    if (raw === undefined || raw === '') return undefined
    const result = request.unsignCookie(raw)
    return result.valid && result.value !== null ? result.value : undefined
  }

  async function endPending (reply: FastifyReply, id: string | undefined): Promise<void> {
    reply.clearGatewayCookie(pendingCookie)
    if (id !== undefined) await pendingLogins.destroy(id)
  }

  /** MFA API and grant failures: the codes that end the pending login end it; the rest maps like a login. */
  async function failure (request: FastifyRequest, reply: FastifyReply, { id, record }: Pending, err: unknown, step: string, factor: string | undefined): Promise<GatewayError> {
    /* c8 ignore next -- the token client and the MFA API only throw IdpError */
    if (!(err instanceof IdpError)) throw err
    const { error, endsPendingLogin } = mfaError(err, factor)
    if (error.code === 'gateway_misconfigured') request.log.error({ idp: err.toJSON() }, misconfigurationHint(err))
    if (endsPendingLogin) await endPending(reply, id)
    request.log.info({ event: 'mfa', step, outcome: error.code, user: record.user, realm: record.realm, ...(factor === undefined ? {} : { factor }), idp: err.toJSON() }, 'mfa step refused')
    return error
  }

  /** The pending login's last wrong code (MFA_MAX_WRONG_CODES) was used: it is ended, the client must sign in again. */
  async function attemptsExceeded (request: FastifyRequest, reply: FastifyReply, { id, record }: Pending, factor: string): Promise<GatewayError> {
    await endPending(reply, id)
    request.log.warn({ event: 'mfa', step: 'verify', outcome: 'mfa_attempts_exceeded', user: record.user, factor }, 'too many wrong codes: pending login ended')
    return new GatewayError('mfa_attempts_exceeded')
  }

  /** The pending login was ended while this request waited for the IdP (e.g. a verification completed it). */
  function ended (request: FastifyRequest, reply: FastifyReply, record: PendingLogin, step: string, factor: string): GatewayError {
    reply.clearGatewayCookie(pendingCookie)
    request.log.info({ event: 'mfa', step, outcome: 'mfa_expired', user: record.user, factor }, 'the pending login ended meanwhile')
    return new GatewayError('mfa_expired')
  }

  fastify.decorate('mfa', {
    pendingLogins,
    pendingIdOf,

    async begin (request: FastifyRequest, reply: FastifyReply, err: GatewayError, credentials: Credentials) {
      const mfaToken = err.cause instanceof IdpError ? err.cause.mfaToken : undefined
      if (mfaToken === undefined) throw err
      const user = fastify.hashIdentifier(credentials.username)
      const realm = credentials.realm ?? idp.realm
      // A client starting over abandons its earlier pending login.
      if (request.cookies[pendingCookie] !== undefined) await endPending(reply, pendingIdOf(request))
      let authenticators
      try {
        authenticators = await api.authenticators(mfaToken, { ip: request.ip })
      } catch (cause) {
        /* c8 ignore next */
        if (!(cause instanceof IdpError)) throw cause
        if (cause.kind !== 'oauth') throw loginError(cause)
        // The IdP refuses the MFA API for this token or client (e.g. the MFA grant is not enabled): the login cannot
        // continue through the gateway. The client gets the plain mfa_required it got before MFA support.
        request.log.error({ event: 'mfa', step: 'start', outcome: 'mfa_unavailable', user, realm, idp: cause.toJSON() },
          'the IdP refused to list the authenticators (GET /mfa/authenticators): enable the MFA grant for the application, or check that the IdP offers the MFA API')
        throw err
      }
      if (authenticators.length === 0) {
        request.log.info({ event: 'mfa', step: 'start', outcome: 'mfa_enrollment_required', user, realm }, 'mfa required, nothing enrolled')
        throw new GatewayError('mfa_enrollment_required')
      }
      const { id } = await pendingLogins.create({ mfaToken, user, realm, transport: credentials.session_transport ?? 'cookie', authenticators })
      reply.setGatewayCookie(pendingCookie, id, { signed: true, maxAgeSec: Math.floor(PENDING_LOGIN_TTL_MS / 1000) })
      request.log.info({ event: 'mfa', step: 'start', outcome: 'mfa_required', user, realm, factors: authenticators.map(a => a.channel ?? a.type) }, 'second factor required')
      const [status, message] = ERROR_CATALOG.mfa_required
      return await reply.code(status).send({ statusCode: status, code: 'mfa_required', error: 'Unauthorized', message, authenticators })
    },

    async requirePending (request: FastifyRequest, reply: FastifyReply) {
      const id = pendingIdOf(request)
      const record = id === undefined ? undefined : await pendingLogins.load(id)
      if (id === undefined || record === undefined) {
        if (request.cookies[pendingCookie] !== undefined) reply.clearGatewayCookie(pendingCookie)
        throw new GatewayError('mfa_expired')
      }
      return { id, record }
    },

    async challenge (request: FastifyRequest, reply: FastifyReply, pending: Pending, authenticator: MfaAuthenticator): Promise<MfaChallengeAnswer> {
      const { id, record } = pending
      // TOTP needs no challenge at the IdP (reference §8.3): the user types the app's code.
      if (authenticator.type === 'otp') {
        request.log.info({ event: 'mfa', step: 'challenge', outcome: 'ok', user: record.user, factor: 'otp' }, 'mfa challenge')
        return { challenge: 'otp' }
      }
      const factor = authenticator.channel ?? 'oob'
      // Every challenge below makes the IdP send a message (SMS, voice, email, push): limited before it is asked.
      await fastify.loginThrottle.mfaChallenge(request, { id, user: record.user }, authenticator.id)
      let challenge
      try {
        challenge = await api.challenge(record.mfaToken, authenticator.id, { ip: request.ip })
      } catch (err) {
        throw await failure(request, reply, pending, err, 'challenge', factor)
      }
      if (challenge.challengeType === 'otp' || challenge.oobCode === undefined) return { challenge: 'otp' }
      const binding = challenge.bindingMethod === 'prompt'
      if (!await pendingLogins.save(id, { ...record, oob: { code: challenge.oobCode, authenticatorId: authenticator.id, binding, intervalSec: mfaSettings.pollIntervalSec } })) {
        throw ended(request, reply, record, 'challenge', factor)
      }
      request.log.info({ event: 'mfa', step: 'challenge', outcome: 'ok', user: record.user, factor }, 'mfa challenge')
      return binding ? { challenge: 'binding_code' } : { challenge: 'push', interval: mfaSettings.pollIntervalSec }
    },

    async verify (request: FastifyRequest, reply: FastifyReply, pending: Pending, { grant, params, factor, poll }: MfaGrant): Promise<MfaOutcome> {
      const { id, record } = pending
      // A code (not a poll) reserves one of the user's and the pending login's wrong codes until the IdP has judged it.
      const attempt = poll ? undefined : await fastify.loginThrottle.mfaCode(request, { id, user: record.user })
      if (attempt?.exhausted === true) throw await attemptsExceeded(request, reply, pending, factor)
      let tokens: TokenSet
      try {
        tokens = await fastify.tokenClient.grant(grant, params, { ip: request.ip })
      } catch (err) {
        const status = poll && err instanceof IdpError ? pollStatusOf(err) : undefined
        if (status !== undefined && record.oob !== undefined) {
          const slowDown = status === 'mfa_slow_down'
          const interval = record.oob.intervalSec + (slowDown ? SLOW_DOWN_STEP_SEC : 0)
          if (slowDown && !await pendingLogins.save(id, { ...record, oob: { ...record.oob, intervalSec: interval } })) {
            throw ended(request, reply, record, 'verify', factor)
          }
          request.log.debug({ event: 'mfa', step: 'verify', outcome: status, user: record.user, factor }, 'push not approved yet')
          return { done: false, status, interval }
        }
        const mapped = await failure(request, reply, pending, err, 'verify', factor)
        if (attempt !== undefined && mapped.code === 'mfa_invalid_code') {
          if (attempt.wrong()) throw await attemptsExceeded(request, reply, pending, factor)
        } else {
          await attempt?.release()
        }
        throw mapped
      }
      await attempt?.release()

      const session = await fastify.gatewayAuth.startSession(request, reply, tokens, { transport: record.transport })
      await endPending(reply, id)
      request.log.info({ event: 'mfa', step: 'verify', outcome: 'ok', user: record.user, factor }, 'second factor accepted')
      request.log.info({ event: 'login', outcome: 'ok', user: record.user, realm: record.realm, sub: session.sub, mfa: factor }, 'login succeeded')
      return { done: true, session, tokens, transport: record.transport }
    }
  })
}

export default fp(mfaPlugin, {
  fastify: '5.x',
  name: 'bff-mfa',
  dependencies: ['bff-config', 'bff-idp', 'bff-auth', 'bff-identifier-hash', 'bff-login-throttle', 'bff-sessions', 'bff-session-cookie']
})
