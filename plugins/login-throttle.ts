import { createHash } from 'node:crypto'
import rateLimit, { normalizeIP, type FastifyRateLimitStore } from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { RateLimitSetting } from '../fastify.config.js'
import type { Clock } from '../src/clock.js'
import { GatewayError } from '../src/errors.js'
import type { RedisClient } from '../src/session/refresh-lock.js'
import { hashIdentifier } from './auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: {
      /** preHandler for POST /session (after body parsing): per IP, per (IP, username), per username across IPs. */
      login: (request: FastifyRequest) => Promise<void>
      /** For POST /session/mfa: per (IP, pending login). */
      mfa: (request: FastifyRequest, pendingId: string | undefined) => Promise<void>
    }
  }
  interface FastifyRequest {
    /** The key of the limit being checked, for the limiter's keyGenerator (which only receives the request). */
    loginThrottleKey: string
  }
}

export interface LoginThrottleOptions {
  clock: Clock
}

type LimitName = 'ip' | 'ip_user' | 'user' | 'mfa'
type Limiter = ReturnType<FastifyInstance['createRateLimit']>

/** Redis keys: `<REDIS_KEY_PREFIX>login-throttle:<limit>:<key>`, e.g. `bff:login-throttle:ip:203.0.113.7`. */
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
const INCR_LUA = `local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { current, ttl }`

interface WithIncr { bffLoginThrottleIncr?: (key: string, windowMs: number) => Promise<[number, number]> }

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

/** The username as the limits see it: Unicode-normalised, trimmed, case-folded, and hashed (keys may live in Redis). */
function userKey (username: unknown, realm: string | undefined): string {
  const normalised = typeof username === 'string' ? username.normalize('NFKC').trim().toLowerCase() : ''
  return createHash('sha256').update(`${realm ?? ''}\u0000${normalised}`).digest('base64url').slice(0, 32)
}

/**
 * Login throttling with @fastify/rate-limit, before any IdP call: brute force against one account from one address,
 * password spraying from one address, and one account attacked from many. The limits run as preHandlers (the
 * username is in the parsed body). Counters live in Redis when the gateway has one (all replicas share them), else in
 * this process. Each limit is one of the plugin's `createRateLimit` limiters, so a request can be counted by three.
 */
async function loginThrottlePlugin (fastify: FastifyInstance, opts: LoginThrottleOptions): Promise<void> {
  const { login, idp, store: storeConfig } = fastify.config
  const redis = fastify.hasDecorator('redis') ? fastify.redis : null
  const settings: Record<LimitName, RateLimitSetting | undefined> = { ip: login.perIp, ip_user: login.perIpUser, user: login.perUser, mfa: login.perMfaLogin }
  const limiters = new Map<LimitName, Limiter>()
  fastify.decorateRequest('loginThrottleKey', '')

  // Its own encapsulated scope: the rate-limit plugin's decorators and onRoute hook stay here.
  await fastify.register(async function throttleScope (scope) {
    await scope.register(rateLimit, {
      global: false,
      store: redis !== null ? redisStore(redis, `${storeConfig.redis?.keyPrefix ?? 'bff:'}${THROTTLE_NAMESPACE}`) : clockStore(opts.clock)
    })
    for (const [name, setting] of Object.entries(settings) as Array<[LimitName, RateLimitSetting | undefined]>) {
      if (setting === undefined) continue
      limiters.set(name, scope.createRateLimit({
        max: setting.max,
        timeWindow: setting.windowMs,
        keyGenerator: (request: FastifyRequest) => `${name}:${request.loginThrottleKey}`
      }))
    }
  })

  async function check (request: FastifyRequest, name: LimitName, key: string, user: string | undefined): Promise<void> {
    const limiter = limiters.get(name)
    if (limiter === undefined) return
    request.loginThrottleKey = key
    let result: Awaited<ReturnType<Limiter>>
    try {
      result = await limiter(request)
    } catch (err) {
      // Fail closed: the counters are unreachable (Redis down), and no session could be stored either.
      request.log.error({ err, limit: name }, 'login throttle counters unreachable')
      throw new GatewayError('store_unavailable', { cause: err })
    }
    if (result.isAllowed || !result.isExceeded) return
    const retryAfter = Math.max(1, result.ttlInSeconds)
    request.log.warn({ event: 'login_throttled', limit: name, ...(user === undefined ? {} : { user }), retryAfter }, 'login throttled')
    throw new GatewayError('rate_limited', { retryAfter, message: 'Too many sign-in attempts; retry later' })
  }

  fastify.decorate('loginThrottle', {
    async login (request: FastifyRequest) {
      const body = (request.body ?? {}) as { username?: unknown, realm?: unknown }
      const ip = normalizeIP(request.ip)
      const user = userKey(body.username, typeof body.realm === 'string' ? body.realm : idp.realm)
      const logged = typeof body.username === 'string' ? hashIdentifier(body.username) : undefined
      await check(request, 'ip', ip, logged)
      await check(request, 'ip_user', `${ip}|${user}`, logged)
      await check(request, 'user', user, logged)
    },
    async mfa (request: FastifyRequest, pendingId: string | undefined) {
      const pending = createHash('sha256').update(pendingId ?? '').digest('base64url').slice(0, 32)
      await check(request, 'mfa', `${normalizeIP(request.ip)}|${pending}`, undefined)
    }
  })
}

export default fp(loginThrottlePlugin, {
  fastify: '5.x',
  name: 'bff-login-throttle',
  dependencies: ['bff-config', 'bff-sessions']
})
