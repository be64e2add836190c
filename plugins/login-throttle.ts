import { createHash } from 'node:crypto'
import rateLimit, { normalizeIP, type FastifyRateLimitStore } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { MfaConfig, RateLimitSetting } from '../fastify.config.js'
import type { Clock } from '../src/clock.js'
import { createIdentifierHasher } from '../src/crypto/identifier-hash.js'
import { GatewayError, type ErrorCode } from '../src/errors.js'
import { createDeviceCookies } from '../src/login/device-cookie.js'
import { COUNT_IN_WINDOW_LUA, createMemoryFailureCounter, createRedisFailureCounter, type Reservation } from '../src/login/failure-counter.js'
import { PENDING_LOGIN_TTL_MS } from '../src/mfa/pending-logins.js'
import type { RedisClient } from '../src/session/refresh-lock.js'

/**
 * The key of the limit being checked, for the limiters' keyGenerator (which only receives the request): a
 * Symbol-keyed request decoration, as @fastify/rate-limit keeps its own, so no other plugin can name, collide with
 * or read it.
 */
const kThrottleKey = Symbol('bff.loginThrottleKey')

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: {
      /**
       * preHandler for POST /session (after body parsing): per IP, per (IP, username), and then either the device
       * cookie's failures (a valid one for this user) or the username's failures across IPs (every other client).
       */
      login: (request: FastifyRequest) => Promise<void>
      /**
       * After the login's outcome (`ok` or the error code): only `invalid_credentials` stays counted as a failure; a
       * correct password (`ok`, `mfa_required`) gets a new device cookie.
       */
      settle: (request: FastifyRequest, reply: FastifyReply, outcome: ErrorCode | 'ok') => Promise<void>
      /** For POST /session/mfa: per (IP, pending login). */
      mfa: (request: FastifyRequest, pendingId: string | undefined) => Promise<void>
      /**
       * Before POST /session/mfa/challenge asks the IdP to send a message (SMS, voice, email, push): per user and
       * authenticator, per pending login, per user. 429 rate_limited over any of them.
       */
      mfaChallenge: (request: FastifyRequest, pending: PendingLoginRef, authenticatorId: string) => Promise<void>
      /**
       * Before POST /session/mfa forwards a code (OTP, binding, recovery): reserves one wrong code of the user's
       * (MFA_WRONG_CODE_RATE_LIMIT_USER; 429 rate_limited when none is left) and of the pending login's
       * (MFA_MAX_WRONG_CODES). The caller settles the reservation with the IdP's answer.
       */
      mfaCode: (request: FastifyRequest, pending: PendingLoginRef) => Promise<MfaCodeAttempt>
    }
  }
  interface FastifyRequest {
    [kThrottleKey]: string
    /** The failure counter a login reserved an attempt in (released unless the password was wrong), or null. */
    loginAttempt: { limit: 'user' | 'device', key: string } | null
  }
}

export interface LoginThrottleOptions {
  clock: Clock
}

/** A pending MFA login as the MFA limits key it: its id and its hashed `user` (stable across replicas). */
export interface PendingLoginRef {
  readonly id: string
  readonly user: string
}

/** One code's reservation in the wrong-code counters, made before the code is forwarded to the IdP. */
export interface MfaCodeAttempt {
  /** The pending login's wrong codes were used up meanwhile (parallel requests): forward nothing, end it. */
  readonly exhausted: boolean
  /** The IdP refused the code as wrong: the reservation stays counted. True when it was the pending login's last. */
  wrong (): boolean
  /** Any other outcome (accepted, transient failure): the reservation is given back, so only wrong codes count. */
  release (): Promise<void>
}

/**
 * Limits that count every request (@fastify/rate-limit), MFA messages sent among them (issue #15). The per-user and
 * per-device login limits and the wrong-code limits count failures only (src/login/failure-counter.ts).
 */
type LimitName = 'ip' | 'ip_user' | 'mfa' | MfaChallengeLimitName
type MfaChallengeLimitName = 'mfa_challenge_authenticator' | 'mfa_challenge_login' | 'mfa_challenge_user'
/** Counters of failures, under `<limit>:<key>`: sign-ins (user, device) and wrong MFA codes (a pending login's over its life). */
type FailureLimitName = 'user' | 'device' | 'mfa_wrong_code_user' | 'mfa_wrong_code_login'
type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/**
 * Redis keys: `<REDIS_KEY_PREFIX>login-throttle:<limit>:<key>`, e.g. `bff:login-throttle:ip:203.0.113.7`; the limits
 * are `ip`, `ip_user`, `mfa`, `mfa_challenge_*` (every request) and `user`, `device`, `mfa_wrong_code_*` (failures,
 * src/login/failure-counter.ts).
 */
const THROTTLE_NAMESPACE = 'login-throttle:'

/** Fixed-window counters kept by the process (one replica), on the injected clock, bounded. */
const LOCAL_MAX_KEYS = 100_000

/** A counter store for @fastify/rate-limit with the same semantics as its LocalStore, but on our clock (tests never sleep). */
function clockStore (clock: Clock): new () => FastifyRateLimitStore {
  const windows = new LRUCache<string, { count: number, startMs: number }>({ max: LOCAL_MAX_KEYS })
  return class ClockStore implements FastifyRateLimitStore {
    incr (key: string, callback: (error: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number): void {
      const now = clock.now()
      let entry = windows.get(key)
      if (entry === undefined || entry.startMs + timeWindow <= now) entry = { count: 0, startMs: now }
      entry.count += 1
      windows.set(key, entry)
      callback(null, { current: entry.count, ttl: entry.startMs + timeWindow - now })
    }

    // Keys are namespaced by limit (ip:, ip_user:, user:, mfa:), so every limiter can share one table.
    child (): FastifyRateLimitStore { return this }
  }
}

/**
 * One fixed-window counter per key in Redis: INCR, and PEXPIRE when the window starts (a new key has no expiry yet);
 * answers the count and the window's remaining milliseconds. The semantics of @fastify/rate-limit's RedisStore
 * without its options (no continueExceeding, no exponential back-off).
 */
const INCR_LUA = `${COUNT_IN_WINDOW_LUA}return { current, ttl }`

interface WithIncr {
  bffLoginThrottleIncr?: (key: string, windowMs: number) => Promise<[number, number]>
}

/**
 * The counters in Redis, under `<nameSpace><limit>:<key>`. Our own store rather than the library's `redis` option:
 * the library's RedisStore appends the route's method and URL to every key (`child()`), and limiters made with
 * `createRateLimit` have no route, so its keys read `…undefinedundefined-ip:…`. Here the key is exactly what the
 * limiter's keyGenerator says, under one namespace.
 */
function redisStore (client: RedisClient, nameSpace: string): new () => FastifyRateLimitStore {
  const scripted = client as RedisClient & WithIncr
  if (scripted.bffLoginThrottleIncr === undefined) client.defineCommand('bffLoginThrottleIncr', { numberOfKeys: 1, lua: INCR_LUA })
  const incr = scripted.bffLoginThrottleIncr
  /* c8 ignore next -- defineCommand always adds the method */
  if (incr === undefined) throw new TypeError('login throttle: defineCommand did not register the script')
  return class RedisThrottleStore implements FastifyRateLimitStore {
    incr (key: string, callback: (error: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number): void {
      incr.call(client, `${nameSpace}${key}`, timeWindow).then(
        ([current, ttl]) => { callback(null, { current, ttl }) },
        (err: unknown) => { callback(err instanceof Error ? err : new Error(String(err))) }
      )
    }

    // As with the clock store: keys carry the limit's name, and no route segment is added.
    child (): FastifyRateLimitStore { return this }
  }
}

/**
 * Login throttling, before any IdP call: brute force against one account from one address, password spraying from
 * one address (per IP and per IP+username: @fastify/rate-limit limiters counting every request), and one account
 * attacked from many addresses. For the last, only failed attempts count (src/login/failure-counter.ts), and not for
 * a browser that signed in as that user before: it holds a device cookie (src/login/device-cookie.ts) and is judged
 * by its own failures, so an attacker who exhausts the user's limit does not lock the user out of their own devices.
 * Counters live in Redis when the gateway has one (all replicas share them), else in this process.
 */
async function loginThrottlePlugin (fastify: FastifyInstance, opts: LoginThrottleOptions): Promise<void> {
  const { login, idp, store: storeConfig, cookie: cookieSettings } = fastify.config
  const redis = fastify.hasDecorator('sessionRedis') ? fastify.sessionRedis : null
  const settings: Record<LimitName, RateLimitSetting | undefined> = { ip: login.perIp, ip_user: login.perIpUser, mfa: login.perMfaLogin, ...mfaLimits(fastify.config.mfa) }
  const limiters = new Map<LimitName, Limiter>()
  const nameSpace = `${storeConfig.redis?.keyPrefix ?? 'bff:'}${THROTTLE_NAMESPACE}`
  const failures = redis !== null ? createRedisFailureCounter(redis, nameSpace) : createMemoryFailureCounter(opts.clock)
  const identifiers = createIdentifierHasher(fastify.config.logHashKey)
  // LOGIN_RATE_LIMIT_DEVICE=off: no device cookies at all (an unlimited device would be an unlimited guesser).
  const devices = login.perDevice === undefined ? undefined : createDeviceCookies({ secrets: cookieSettings.secrets, lifetimeMs: login.deviceCookieLifetimeMs, clock: opts.clock })
  const deviceCookie = `${cookieSettings.name}-device`
  fastify.decorateRequest(kThrottleKey, '')
  fastify.decorateRequest('loginAttempt', null)
  const counters = redis !== null ? redisStore(redis, nameSpace) : clockStore(opts.clock)

  // Its own encapsulated scope: the rate-limit plugin's decorators and onRoute hook stay here.
  await fastify.register(async function throttleScope (scope) {
    await scope.register(rateLimit, { global: false, store: counters })
    for (const [name, setting] of Object.entries(settings) as Array<[LimitName, RateLimitSetting | undefined]>) {
      if (setting === undefined) continue
      limiters.set(name, scope.createRateLimit({
        max: setting.max,
        timeWindow: setting.windowMs,
        keyGenerator: (request: FastifyRequest) => `${name}:${request[kThrottleKey]}`
      }))
    }
  })

  /** Counts one request under a limit (a no-op when it is off); over it, 429 rate_limited. */
  async function check (request: FastifyRequest, name: LimitName, key: string, user: string | undefined, message?: string): Promise<void> {
    const limiter = limiters.get(name)
    if (limiter === undefined) return
    request[kThrottleKey] = key
    let result: Awaited<ReturnType<Limiter>>
    try {
      result = await limiter(request)
    } catch (err) {
      // Fail closed: the counters are unreachable (Redis down), and no session could be stored either.
      request.log.error({ err, limit: name }, 'login throttle counters unreachable')
      throw new GatewayError('store_unavailable', { cause: err })
    }
    if (result.isAllowed || !result.isExceeded) return
    throttled(request, name, Math.max(1, result.ttlInSeconds), user, message)
  }

  function throttled (request: FastifyRequest, limit: string, retryAfter: number, user: string | undefined, message = 'Too many sign-in attempts; retry later'): never {
    request.log.warn({ event: 'login_throttled', limit, ...(user === undefined ? {} : { user }), retryAfter }, 'login throttled')
    throw new GatewayError('rate_limited', { retryAfter, message })
  }

  /** Reserves one failure under `<limit>:<key>` (src/login/failure-counter.ts); unreachable counters fail closed. */
  async function reserve (request: FastifyRequest, limit: FailureLimitName, key: string, setting: RateLimitSetting): Promise<Reservation> {
    try {
      return await failures.reserve(`${limit}:${key}`, setting)
    } catch (err) {
      request.log.error({ err, limit }, 'login throttle counters unreachable')
      throw new GatewayError('store_unavailable', { cause: err })
    }
  }

  /** Gives a reserved failure back (it was none); should that fail, it stays counted (the safe side) and is logged. */
  async function giveBack (request: FastifyRequest, limit: FailureLimitName, key: string): Promise<void> {
    await failures.release(`${limit}:${key}`).catch((err: unknown) => { request.log.warn({ err, limit }, 'login throttle: a reserved attempt could not be released') })
  }

  /** Reserves one attempt in the device's counter (a valid device cookie for this user) or else the user's. */
  async function reserveFailure (request: FastifyRequest, username: string, realm: string | undefined, logged: string | undefined): Promise<void> {
    const deviceId = devices?.verify(request.cookies[deviceCookie], { username, realm })
    const attempt = deviceId !== undefined
      ? { limit: 'device' as const, key: deviceId, setting: login.perDevice }
      : { limit: 'user' as const, key: identifiers.forThrottle(username, realm), setting: login.perUser }
    if (attempt.setting === undefined) return
    const reservation = await reserve(request, attempt.limit, attempt.key, attempt.setting)
    if (!reservation.allowed) throttled(request, attempt.limit, reservation.retryAfterSec, logged)
    request.loginAttempt = { limit: attempt.limit, key: attempt.key }
  }

  fastify.decorate('loginThrottle', {
    async login (request: FastifyRequest) {
      const body = (request.body ?? {}) as { username?: unknown, realm?: unknown }
      const ip = normalizeIP(request.ip)
      const username = typeof body.username === 'string' ? body.username : ''
      const realm = typeof body.realm === 'string' ? body.realm : idp.realm
      const logged = typeof body.username === 'string' ? fastify.hashIdentifier(body.username) : undefined
      await check(request, 'ip', ip, logged)
      await check(request, 'ip_user', `${ip}|${identifiers.forThrottle(username, realm)}`, logged)
      await reserveFailure(request, username, realm, logged)
    },
    async settle (request: FastifyRequest, reply: FastifyReply, outcome: ErrorCode | 'ok') {
      const attempt = request.loginAttempt
      request.loginAttempt = null
      // Not a wrong password: give the place back.
      if (attempt !== null && outcome !== 'invalid_credentials') await giveBack(request, attempt.limit, attempt.key)
      const body = (request.body ?? {}) as { username?: unknown, realm?: unknown, session_transport?: unknown }
      // The password was right (a second factor may still be due): this browser is now a known device for the user.
      if (devices === undefined || (outcome !== 'ok' && outcome !== 'mfa_required') || typeof body.username !== 'string') return
      // Native clients (header sessions) get no cookies, so no device cookie either.
      if (body.session_transport === 'header') return
      const realm = typeof body.realm === 'string' ? body.realm : idp.realm
      reply.setGatewayCookie(deviceCookie, devices.issue({ username: body.username, realm }), { maxAgeSec: Math.floor(login.deviceCookieLifetimeMs / 1000) })
    },
    async mfa (request: FastifyRequest, pendingId: string | undefined) {
      const pending = createHash('sha256').update(pendingId ?? '').digest('base64url').slice(0, 32)
      await check(request, 'mfa', `${normalizeIP(request.ip)}|${pending}`, undefined)
    },
    async mfaChallenge (request: FastifyRequest, pending: PendingLoginRef, authenticatorId: string) {
      // The narrowest first, so a request refused by the 30-second limit uses up nothing of the longer ones.
      const message = 'Too many verification messages; retry later'
      await check(request, 'mfa_challenge_authenticator', `${pending.user}|${hashedKey(authenticatorId)}`, pending.user, message)
      await check(request, 'mfa_challenge_login', hashedKey(pending.id), pending.user, message)
      await check(request, 'mfa_challenge_user', pending.user, pending.user, message)
    },
    async mfaCode (request: FastifyRequest, pending: PendingLoginRef) {
      const perUser = fastify.config.mfa.wrongCodesPerUser
      const user = perUser === undefined ? undefined : await reserve(request, 'mfa_wrong_code_user', pending.user, perUser)
      if (user?.allowed === false) throttled(request, 'mfa_wrong_code_user', user.retryAfterSec, pending.user, 'Too many wrong codes; retry later')
      const login = hashedKey(pending.id)
      const own = await reserve(request, 'mfa_wrong_code_login', login, { max: fastify.config.mfa.maxWrongCodes, windowMs: PENDING_LOGIN_TTL_MS })
      const releaseUser = async (): Promise<void> => { if (user !== undefined) await giveBack(request, 'mfa_wrong_code_user', pending.user) }
      if (!own.allowed) {
        // The pending login's wrong codes were used up meanwhile (parallel requests): nothing is forwarded.
        await releaseUser()
        return { exhausted: true, wrong: () => true, release: releaseUser }
      }
      return {
        exhausted: false,
        wrong: () => own.remaining === 0,
        release: async () => {
          await releaseUser()
          await giveBack(request, 'mfa_wrong_code_login', login)
        }
      }
    }
  })
}

/** An id (a pending login's, an authenticator's) as a counter key: hashed, never the id itself. */
function hashedKey (id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 32)
}

/** The MFA message limits' settings. */
function mfaLimits (mfa: MfaConfig): Record<MfaChallengeLimitName, RateLimitSetting | undefined> {
  return {
    mfa_challenge_authenticator: mfa.challengePerAuthenticator,
    mfa_challenge_login: mfa.challengePerLogin,
    mfa_challenge_user: mfa.challengePerUser
  }
}

export default fp(loginThrottlePlugin, {
  fastify: '5.x',
  name: 'bff-login-throttle',
  dependencies: ['bff-config', 'bff-sessions', 'bff-session-cookie', 'bff-identifier-hash']
})
