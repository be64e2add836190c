/**
 * A short per-session lock around a refresh, so one replica at a time redeems a session's refresh token.
 * `acquire` resolves to a release function when the lock was taken, or undefined when someone else holds it.
 * A lock expires by itself after ttlMs (its lease), so a holder that dies never blocks a session for longer.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Cluster, Redis } from 'ioredis'
import { GatewayError } from '../errors.js'

export type ReleaseLock = () => Promise<void>

export interface RefreshLock {
  acquire (key: string, ttlMs: number): Promise<ReleaseLock | undefined>
}

/**
 * The in-process lock for a single gateway (memory store). The refresh plugin's single flight already allows one
 * refresh per session per process, so this is nearly free: a Map entry per refresh in flight.
 */
export function createLocalLock (): RefreshLock {
  const held = new Map<string, { owner: symbol, until: number }>()
  return {
    async acquire (key, ttlMs) {
      const now = performance.now()
      const current = held.get(key)
      if (current !== undefined && current.until > now) return undefined
      const owner = Symbol(key)
      held.set(key, { owner, until: now + ttlMs })
      return async () => { if (held.get(key)?.owner === owner) held.delete(key) }
    }
  }
}

export type RedisClient = Redis | Cluster

/** Compare-and-delete: only the owner's token releases the lock. */
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

interface WithRelease { bffReleaseLock?: (key: string, owner: string) => Promise<number> }

/** The lock's Redis key for a session's storage key (`<prefix>lock:<sha256 of the session id>`). */
export function lockKeyFor (keyPrefix: string, key: string): string {
  return `${keyPrefix}lock:${key}`
}

/** SET NX PX with a random owner token; released by the owner through a Lua compare-and-delete registered once. */
export function createRedisLock (client: RedisClient, options: { keyPrefix: string }): RefreshLock {
  const scripted = client as RedisClient & WithRelease
  if (scripted.bffReleaseLock === undefined) client.defineCommand('bffReleaseLock', { numberOfKeys: 1, lua: RELEASE_LUA })
  return {
    async acquire (key, ttlMs) {
      const lockKey = lockKeyFor(options.keyPrefix, key)
      const owner = randomBytes(16).toString('base64url')
      let reply: string | null
      try {
        reply = await client.set(lockKey, owner, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')
      } catch (err) {
        throw new GatewayError('store_unavailable', { cause: err })
      }
      if (reply !== 'OK') return undefined
      return async () => {
        // A failed release is harmless: the lease ends the lock anyway.
        await scripted.bffReleaseLock?.(lockKey, owner).catch(() => {})
      }
    }
  }
}
