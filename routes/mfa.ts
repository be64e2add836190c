import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../src/clock.js'
import { ERROR_CATALOG, GatewayError } from '../src/errors.js'
import { createMfaApi, type MfaApi } from '../src/mfa/mfa-api.js'
import { createPendingLogins, PENDING_LOGIN_TTL_MS, type PendingLogin, type PendingLogins } from '../src/mfa/pending-logins.js'
import { sessionView } from '../src/session/session-view.js'
import { IdpError } from '../src/token/idp-error.js'
import { isClientAuthenticationFailure, loginError, misconfigurationHint } from '../src/token/login-errors.js'
import type { TokenSet } from '../src/token/token-set.js'
import type { Credentials } from '../plugins/auth.js'
import { errorResponses, sessionViewSchema } from './schemas.js'

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
    }
  }
}

export interface MfaRoutesOptions {
  clock: Clock
  fetch?: typeof fetch | undefined
}

export const GRANT_MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp'
export const GRANT_MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob'
export const GRANT_MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'

export { PENDING_LOGIN_TTL_MS }
/**
 * How much each slow_down widens the push poll interval, seconds: RFC 8628 §3.5's 5 s, whatever the first interval
 * (MFA_POLL_INTERVAL) was, since slow_down means the IdP wants fewer polls than that.
 */
export const SLOW_DOWN_STEP_SEC = 5

const authenticatorSchema = {
  type: 'object',
  required: ['id', 'type'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: ['otp', 'oob', 'recovery-code'] },
    channel: { type: 'string' },
    name: { type: 'string' }
  }
} as const

/** 401 from POST /session: the usual error shape, plus the authenticators when the code is mfa_required. */
export const mfaRequiredReply = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
    authenticators: { type: 'array', items: authenticatorSchema }
  }
} as const

/** 200 of a completed login: the session view, plus the new recovery code (recovery-code logins) and the handle (header sessions). */
export const loginReply = {
  ...sessionViewSchema,
  properties: {
    ...sessionViewSchema.properties,
    recovery_code: { type: 'string' },
    session_handle: { type: 'string' }
  }
} as const

const pollReply = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message', 'interval'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer', enum: [202] },
    code: { type: 'string', enum: ['mfa_pending', 'mfa_slow_down'] },
    error: { type: 'string' },
    message: { type: 'string' },
    interval: { type: 'integer', minimum: 1 }
  }
} as const

const challengeBody = {
  type: 'object',
  required: ['authenticator_id'],
  additionalProperties: false,
  properties: { authenticator_id: { type: 'string', minLength: 1, maxLength: 256 } }
} as const

const challengeReply = {
  type: 'object',
  required: ['challenge'],
  additionalProperties: false,
  properties: {
    /** otp: type the authenticator app's code; binding_code: type the code sent by SMS/voice/email; push: approve on the device, then poll. */
    challenge: { type: 'string', enum: ['otp', 'binding_code', 'push'] },
    interval: { type: 'integer', minimum: 1 }
  }
} as const

const verifyBody = {
  type: 'object',
  additionalProperties: false,
  maxProperties: 1,
  properties: {
    otp: { type: 'string', minLength: 1, maxLength: 32 },
    binding_code: { type: 'string', minLength: 1, maxLength: 32 },
    recovery_code: { type: 'string', minLength: 1, maxLength: 128 }
  }
} as const

interface VerifyBody { otp?: string, binding_code?: string, recovery_code?: string }

/**
 * MFA continuation of a password login (reference §8): the pending login, `POST /session/mfa/challenge` and
 * `POST /session/mfa`. The mfa_token and any oob_code stay in the pending login on the server; the client only holds
 * a signed random id in its own cookie (`<COOKIE_NAME>-mfa`, same attributes as the session cookie, 5 minutes).
 */
async function mfaPlugin (fastify: FastifyInstance, opts: MfaRoutesOptions): Promise<void> {
  const { idp, cookie: cookieSettings, session, mfa: mfaSettings } = fastify.config
  const pendingCookie = `${cookieSettings.name}-mfa`
  const cookieAttributes = { httpOnly: true, secure: true, sameSite: cookieSettings.sameSite, path: '/' } as const
  const api: MfaApi = createMfaApi({ issuer: idp.issuer, auth: fastify.idpClientAuth, clock: opts.clock, timeoutMs: idp.timeoutMs, forwardClientIp: idp.auth0Extensions, fetch: opts.fetch })
  const pendingLogins = createPendingLogins({ store: fastify.pendingLoginStore, clock: opts.clock, ttlMs: PENDING_LOGIN_TTL_MS })

  function pendingIdOf (request: FastifyRequest): string | undefined {
    const raw = request.cookies[pendingCookie]
    if (raw === undefined || raw === '') return undefined
    const result = request.unsignCookie(raw)
    return result.valid && result.value !== null ? result.value : undefined
  }

  async function endPending (reply: FastifyReply, id: string | undefined): Promise<void> {
    reply.clearCookie(pendingCookie, cookieAttributes)
    if (id !== undefined) await pendingLogins.destroy(id)
  }

  async function requirePending (request: FastifyRequest, reply: FastifyReply): Promise<{ id: string, record: PendingLogin }> {
    const id = pendingIdOf(request)
    const record = id === undefined ? undefined : await pendingLogins.load(id)
    if (id === undefined || record === undefined) {
      if (request.cookies[pendingCookie] !== undefined) reply.clearCookie(pendingCookie, cookieAttributes)
      throw new GatewayError('mfa_expired')
    }
    return { id, record }
  }

  /** MFA API and grant failures: the codes that end the pending login end it; the rest maps like a login. */
  async function failure (request: FastifyRequest, reply: FastifyReply, id: string, record: PendingLogin, err: unknown, step: string, factor: string | undefined): Promise<GatewayError> {
    /* c8 ignore next -- the token client and the MFA API only throw IdpError */
    if (!(err instanceof IdpError)) throw err
    let mapped: GatewayError
    let final = true
    const rejected = /reject/i.test(err.description ?? '')
    if (err.kind === 'oauth' && err.error === 'expired_token') mapped = new GatewayError('mfa_expired', { cause: err })
    else if (err.kind === 'oauth' && err.error === 'invalid_grant' && /mfa_token/i.test(err.description ?? '')) mapped = new GatewayError('mfa_expired', { cause: err })
    else if (err.kind === 'oauth' && (err.error === 'access_denied' || err.error === 'invalid_grant') && rejected) mapped = new GatewayError('mfa_rejected', { cause: err })
    else if (err.kind === 'oauth' && err.error === 'access_denied' && !isClientAuthenticationFailure(err) && factor === 'push') mapped = new GatewayError('mfa_rejected', { cause: err })
    else if (err.kind === 'oauth' && err.error === 'invalid_grant') {
      mapped = new GatewayError('mfa_invalid_code', { cause: err })
      final = false
    } else {
      mapped = loginError(err)
      if (mapped.code === 'gateway_misconfigured') request.log.error({ idp: err.toJSON() }, misconfigurationHint(err))
      // Transient trouble keeps the pending login: the user may try again within its lifetime.
      final = mapped.code === 'account_blocked' || mapped.code === 'access_denied' || mapped.code === 'password_reset_required' || mapped.code === 'interactive_login_required'
    }
    if (final) await endPending(reply, id)
    request.log.info({ event: 'mfa', step, outcome: mapped.code, user: record.user, realm: record.realm, ...(factor === undefined ? {} : { factor }), idp: err.toJSON() }, 'mfa step refused')
    return mapped
  }

  /** The pending login's last wrong code (MFA_MAX_WRONG_CODES) was used: it is ended, the client must sign in again. */
  function attemptsExceeded (request: FastifyRequest, record: PendingLogin, factor: string): GatewayError {
    request.log.warn({ event: 'mfa', step: 'verify', outcome: 'mfa_attempts_exceeded', user: record.user, factor }, 'too many wrong codes: pending login ended')
    return new GatewayError('mfa_attempts_exceeded')
  }

  /** The pending login was ended while this request waited for the IdP (e.g. a verification completed it). */
  function ended (request: FastifyRequest, reply: FastifyReply, record: PendingLogin, step: string, factor: string): GatewayError {
    reply.clearCookie(pendingCookie, cookieAttributes)
    request.log.info({ event: 'mfa', step, outcome: 'mfa_expired', user: record.user, factor }, 'the pending login ended meanwhile')
    return new GatewayError('mfa_expired')
  }

  fastify.decorate('mfa', {
    pendingLogins,
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
      reply.setCookie(pendingCookie, id, { ...cookieAttributes, signed: true, maxAge: Math.floor(PENDING_LOGIN_TTL_MS / 1000) })
      request.log.info({ event: 'mfa', step: 'start', outcome: 'mfa_required', user, realm, factors: authenticators.map(a => a.channel ?? a.type) }, 'second factor required')
      const [status, message] = ERROR_CATALOG.mfa_required
      return await reply.code(status).send({ statusCode: status, code: 'mfa_required', error: 'Unauthorized', message, authenticators })
    }
  })

  await fastify.register(async function mfaRoutes (scope) {
    scope.addHook('onSend', async (_request, reply) => { reply.header('cache-control', 'no-store') })

    scope.post<{ Body: { authenticator_id: string } }>('/session/mfa/challenge', {
      onRequest: fastify.verifyCsrf,
      schema: { body: challengeBody, response: { 200: challengeReply, ...errorResponses } }
    }, async (request, reply) => {
      const { id, record } = await requirePending(request, reply)
      const authenticator = record.authenticators.find(a => a.id === request.body.authenticator_id)
      if (authenticator === undefined) throw new GatewayError('invalid_request', { message: 'authenticator_id is not one of the authenticators listed with mfa_required' })
      if (authenticator.type === 'recovery-code') throw new GatewayError('invalid_request', { message: 'A recovery code needs no challenge: send { "recovery_code" } to POST /session/mfa' })
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
        throw await failure(request, reply, id, record, err, 'challenge', factor)
      }
      if (challenge.challengeType === 'otp' || challenge.oobCode === undefined) return { challenge: 'otp' }
      const binding = challenge.bindingMethod === 'prompt'
      if (!await pendingLogins.save(id, { ...record, oob: { code: challenge.oobCode, authenticatorId: authenticator.id, binding, intervalSec: mfaSettings.pollIntervalSec } })) {
        throw ended(request, reply, record, 'challenge', factor)
      }
      request.log.info({ event: 'mfa', step: 'challenge', outcome: 'ok', user: record.user, factor }, 'mfa challenge')
      return binding ? { challenge: 'binding_code' } : { challenge: 'push', interval: mfaSettings.pollIntervalSec }
    })

    scope.post<{ Body: VerifyBody }>('/session/mfa', {
      onRequest: fastify.verifyCsrf,
      preHandler: async request => { await fastify.loginThrottle.mfa(request, pendingIdOf(request)) },
      schema: { body: verifyBody, response: { 200: loginReply, 202: pollReply, ...errorResponses } }
    }, async (request, reply) => {
      const { id, record } = await requirePending(request, reply)
      const body = request.body ?? {}
      let grant: string
      let params: Record<string, string>
      let factor: string
      if (body.otp !== undefined) {
        [grant, params, factor] = [GRANT_MFA_OTP, { mfa_token: record.mfaToken, otp: body.otp }, 'otp']
      } else if (body.recovery_code !== undefined) {
        [grant, params, factor] = [GRANT_MFA_RECOVERY_CODE, { mfa_token: record.mfaToken, recovery_code: body.recovery_code }, 'recovery-code']
      } else {
        const oob = record.oob
        if (oob === undefined) throw new GatewayError('invalid_request', { message: 'Send { "otp" } or { "recovery_code" }, or start a challenge first (POST /session/mfa/challenge)' })
        if (oob.binding && body.binding_code === undefined) throw new GatewayError('invalid_request', { message: 'binding_code is required: the code sent to the user' })
        if (!oob.binding && body.binding_code !== undefined) throw new GatewayError('invalid_request', { message: 'This challenge is a push: poll with an empty body' })
        grant = GRANT_MFA_OOB
        params = { mfa_token: record.mfaToken, oob_code: oob.code, ...(body.binding_code === undefined ? {} : { binding_code: body.binding_code }) }
        factor = oob.binding ? record.authenticators.find(a => a.id === oob.authenticatorId)?.channel ?? 'oob' : 'push'
      }

      // A code (not a poll) reserves one of the user's and the pending login's wrong codes until the IdP has judged it.
      const attempt = grant === GRANT_MFA_OOB && !record.oob?.binding ? undefined : await fastify.loginThrottle.mfaCode(request, { id, user: record.user })
      if (attempt?.exhausted === true) {
        await endPending(reply, id)
        throw attemptsExceeded(request, record, factor)
      }
      let tokens: TokenSet
      try {
        tokens = await fastify.tokenClient.grant(grant, params, { ip: request.ip })
      } catch (err) {
        if (err instanceof IdpError && err.kind === 'oauth' && record.oob !== undefined && !record.oob.binding && grant === GRANT_MFA_OOB &&
          (err.error === 'authorization_pending' || err.error === 'slow_down')) {
          const slowDown = err.error === 'slow_down'
          const interval = record.oob.intervalSec + (slowDown ? SLOW_DOWN_STEP_SEC : 0)
          if (slowDown && !await pendingLogins.save(id, { ...record, oob: { ...record.oob, intervalSec: interval } })) {
            throw ended(request, reply, record, 'verify', factor)
          }
          const code = slowDown ? 'mfa_slow_down' : 'mfa_pending'
          request.log.debug({ event: 'mfa', step: 'verify', outcome: code, user: record.user, factor }, 'push not approved yet')
          const [, message] = ERROR_CATALOG[code]
          return await reply.code(202).header('retry-after', String(interval)).send({ statusCode: 202, code, error: 'Accepted', message, interval })
        }
        const mapped = await failure(request, reply, id, record, err, 'verify', factor)
        if (attempt !== undefined && mapped.code === 'mfa_invalid_code') {
          if (attempt.wrong()) {
            await endPending(reply, id)
            throw attemptsExceeded(request, record, factor)
          }
        } else {
          await attempt?.release()
        }
        throw mapped
      }
      await attempt?.release()

      const sessionRecord = await fastify.auth.startSession(request, reply, tokens, { transport: record.transport })
      await endPending(reply, id)
      request.log.info({ event: 'mfa', step: 'verify', outcome: 'ok', user: record.user, factor }, 'second factor accepted')
      request.log.info({ event: 'login', outcome: 'ok', user: record.user, realm: record.realm, sub: sessionRecord.sub, mfa: factor }, 'login succeeded')
      return {
        ...sessionView(sessionRecord, session.idleTimeoutMs),
        ...(tokens.recoveryCode === undefined ? {} : { recovery_code: tokens.recoveryCode }),
        ...(record.transport === 'header' ? { session_handle: fastify.signCookie(request.sessionId) } : {})
      }
    })
  })
}

export default fp(mfaPlugin, {
  fastify: '5.x',
  name: 'bff-mfa',
  dependencies: ['bff-config', 'bff-auth', 'bff-csrf', 'bff-login-throttle', 'bff-sessions', 'bff-session-cookie']
})
