/**
 * Counters of failures (issue #15): failed sign-ins per username across IPs (clients without a device cookie) and per
 * device cookie (item 12), wrong MFA codes per user and per pending login (item 6). Only failures stay counted, yet the bound holds under concurrency: an attempt *reserves* one unit
 * before the IdP is asked (refused when the window is full), and the unit is released again when the IdP's answer was
 * not a wrong password. So at most `max` attempts per window are ever failing or in flight, however many arrive at once.
 *
 * Fixed windows, like @fastify/rate-limit's: the first reservation starts a window of `windowMs`. In the process (on
 * the injected clock, bounded) or in Redis (shared by replicas, one key per counter under the caller's namespace).
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { RedisClient } from '../session/refresh-lock.js'

export interface FailureLimit {
  readonly max: number
  readonly windowMs: number
}

/** `remaining`: how many more attempts the window holds after this one (0: it was the last). */
export type Reservation = { allowed: true, remaining: number } | { allowed: false, retryAfterSec: number }

export interface FailureCounter {
  /** Counts one attempt under `key` unless its window already holds `max`; a refused attempt is not counted. */
  reserve (key: string, limit: FailureLimit): Promise<Reservation>
  /** Takes a reserved attempt back: it did not fail. Never below zero, never creates a counter. */
  release (key: string): Promise<void>
}

const retryAfter = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs / 1000))

/** Keys the process keeps at most (least recently used go first). */
const LOCAL_MAX_KEYS = 100_000

export function createMemoryFailureCounter (clock: Clock): FailureCounter {
  const windows = new LRUCache<string, { count: number, startMs: number, windowMs: number }>({ max: LOCAL_MAX_KEYS })
  const live = (key: string): { count: number, startMs: number, windowMs: number } | undefined => {
    const entry = windows.get(key)
    return entry !== undefined && entry.startMs + entry.windowMs > clock.now() ? entry : undefined
  }
  return {
    async reserve (key, { max, windowMs }) {
      const now = clock.now()
      const entry = live(key) ?? { count: 0, startMs: now, windowMs }
      if (entry.count >= max) return { allowed: false, retryAfterSec: retryAfter(entry.startMs + entry.windowMs - now) }
      entry.count += 1
      windows.set(key, entry)
      return { allowed: true, remaining: max - entry.count }
    },
    async release (key) {
      const entry = live(key)
      if (entry !== undefined && entry.count > 0) entry.count -= 1
    }
  }
}

/**
 * A fixed window in Redis, the start of a script: INCR KEYS[1], starting the window's expiry (ARGV[1] ms) on a new
 * key; leaves `current` (the count) and `ttl` (the window's rest, ms). Also the login throttle's request counter.
 */
export const COUNT_IN_WINDOW_LUA = `local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
`

/** Reserve: count in the window; over the limit (ARGV[2]), DECR again and answer the window's rest. */
const RESERVE_LUA = `${COUNT_IN_WINDOW_LUA}if current > tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
  return { 0, ttl, 0 }
end
return { 1, ttl, tonumber(ARGV[2]) - current }`

/** Release: DECR only an existing, positive counter (DECR keeps its expiry; a missing key is not created). */
const RELEASE_LUA = `local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > 0 then redis.call('DECR', KEYS[1]) end
return current`

interface WithScripts {
  bffLoginFailureReserve?: (key: string, windowMs: number, max: number) => Promise<[number, number, number]>
  bffLoginFailureRelease?: (key: string) => Promise<number>
}

/** Counters at `<nameSpace><key>` in Redis. Errors reject: the caller fails closed. */
export function createRedisFailureCounter (client: RedisClient, nameSpace: string): FailureCounter {
  const scripted = client as RedisClient & WithScripts
  if (scripted.bffLoginFailureReserve === undefined) client.defineCommand('bffLoginFailureReserve', { numberOfKeys: 1, lua: RESERVE_LUA })
  if (scripted.bffLoginFailureRelease === undefined) client.defineCommand('bffLoginFailureRelease', { numberOfKeys: 1, lua: RELEASE_LUA })
  const { bffLoginFailureReserve: reserve, bffLoginFailureRelease: release } = scripted
  /* c8 ignore next -- defineCommand always adds the methods */
  if (reserve === undefined || release === undefined) throw new TypeError('login failure counter: defineCommand did not register the scripts')
  return {
    async reserve (key, { max, windowMs }) {
      const [allowed, ttl, remaining] = await reserve.call(client, `${nameSpace}${key}`, windowMs, max)
      return allowed === 1 ? { allowed: true, remaining } : { allowed: false, retryAfterSec: retryAfter(ttl) }
    },
    async release (key) {
      await release.call(client, `${nameSpace}${key}`)
    }
  }
}
