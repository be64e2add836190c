import type { Clock } from '../src/clock.js'

export interface RateLimitResult {
  allowed: boolean
  headers: Record<string, string>
}

export interface RateLimiter {
  take (key: string): RateLimitResult
}

interface Bucket { tokens: number, updatedMs: number }

/** Token bucket per key: `max` burst, refilled at max/windowSec per second. All times from the clock. */
export function createRateLimiter (opts: { clock: Clock, max: number, windowSec: number }): RateLimiter {
  const { clock, max } = opts
  const perMs = max / (opts.windowSec * 1000)
  const buckets = new Map<string, Bucket>()

  return {
    take (key) {
      const now = clock.now()
      let bucket = buckets.get(key)
      if (bucket === undefined) buckets.set(key, bucket = { tokens: max, updatedMs: now })
      bucket.tokens = Math.min(max, bucket.tokens + (now - bucket.updatedMs) * perMs)
      bucket.updatedMs = now
      const allowed = bucket.tokens >= 1
      if (allowed) bucket.tokens -= 1
      // Reset = when the next whole token is added back (epoch seconds), as Auth0 documents it.
      const missing = bucket.tokens >= max ? 0 : 1 - (bucket.tokens % 1)
      const resetMs = now + Math.ceil(missing / perMs)
      return {
        allowed,
        headers: {
          'x-ratelimit-limit': String(max),
          'x-ratelimit-remaining': String(Math.floor(bucket.tokens)),
          'x-ratelimit-reset': String(Math.ceil(resetMs / 1000))
        }
      }
    }
  }
}
