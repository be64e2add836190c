/**
 * The session store for several replicas: Redis through ioredis. One hash per session under
 * `<prefix>session:<key>` (the key is already a SHA-256 of the session id, see session-id.ts):
 *   r = the record without lastSeenAt, JSON, sealed with AES-256-GCM (the storage key is authenticated with it, so a
 *       value copied under another key does not open);
 *   s = lastSeenAt, epoch ms, in clear, so recording activity never rewrites (and can never roll back) the tokens.
 * A read is one HMGET and one decryption. Writes are Lua scripts (registered once with defineCommand) so the value
 * and its TTL change together. Any Redis failure becomes `store_unavailable` (503); an unreadable value (a removed
 * encryption key, tampering) reads as no session.
 */
import type { Cluster, Redis } from 'ioredis'
import type { Sealer } from '../crypto/sealer.js'
import { GatewayError } from '../errors.js'
import type { SessionRecord, SessionStore } from './session-store.js'

export type RedisClient = Redis | Cluster

export interface RedisStoreOptions {
  readonly client: RedisClient
  /** Prepended to every key, e.g. `bff:`. */
  readonly keyPrefix: string
  readonly sealer: Sealer
  /** Called when a stored value exists but cannot be opened (wrong or removed key, altered value). */
  readonly onUnreadable?: (key: string) => void
}

const SET_LUA = `redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

const TOUCH_LUA = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`

interface WithScripts {
  bffSessionSet?: (key: string, sealed: string, lastSeenAt: string, ttlMs: string) => Promise<number>
  bffSessionTouch?: (key: string, lastSeenAt: string, ttlMs: string) => Promise<number>
}

/** The Redis key of a session's storage key. */
export function sessionKeyFor (keyPrefix: string, key: string): string {
  return `${keyPrefix}session:${key}`
}

export function createRedisStore (options: RedisStoreOptions): SessionStore {
  const { client, keyPrefix, sealer, onUnreadable } = options
  const scripted = client as RedisClient & WithScripts
  if (scripted.bffSessionSet === undefined) client.defineCommand('bffSessionSet', { numberOfKeys: 1, lua: SET_LUA })
  if (scripted.bffSessionTouch === undefined) client.defineCommand('bffSessionTouch', { numberOfKeys: 1, lua: TOUCH_LUA })
  const setScript = scripted.bffSessionSet
  const touchScript = scripted.bffSessionTouch
  /* c8 ignore next -- defineCommand always adds both methods */
  if (setScript === undefined || touchScript === undefined) throw new TypeError('redis store: defineCommand did not register the scripts')

  async function command<T> (run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      throw new GatewayError('store_unavailable', { cause: err })
    }
  }

  const ttl = (ttlMs: number): string => String(Math.max(1, Math.ceil(ttlMs)))

  return {
    async get (key) {
      const [sealed, seen] = await command(async () => await client.hmget(sessionKeyFor(keyPrefix, key), 'r', 's'))
      if (sealed === null || sealed === undefined) return undefined
      const json = sealer.open(sealed, key)
      if (json === undefined) {
        onUnreadable?.(key)
        return undefined
      }
      const record = JSON.parse(json) as Omit<SessionRecord, 'lastSeenAt'>
      return { ...record, lastSeenAt: Number(seen ?? record.createdAt) }
    },

    async set (key, record, ttlMs) {
      const { lastSeenAt, ...rest } = record
      const sealed = sealer.seal(JSON.stringify(rest), key)
      await command(async () => await setScript.call(client, sessionKeyFor(keyPrefix, key), sealed, String(lastSeenAt), ttl(ttlMs)))
    },

    async touch (key, lastSeenAt, ttlMs) {
      await command(async () => await touchScript.call(client, sessionKeyFor(keyPrefix, key), String(lastSeenAt), ttl(ttlMs)))
    },

    async delete (key) {
      await command(async () => await client.del(sessionKeyFor(keyPrefix, key)))
    },

    // The client belongs to whoever created it (the sessions plugin quits it on close).
    async close () {}
  }
}
