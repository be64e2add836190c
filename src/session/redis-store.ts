/**
 * The session store for several replicas: Redis through ioredis. One hash per session under
 * `<prefix>session:<key>` (the key is already a SHA-256 of the session id, see session-id.ts):
 *   r = the record, JSON, sealed with AES-256-GCM (the storage key is authenticated with it, so a value copied under
 *       another key does not open); its lastSeenAt, as of that write, is the floor of the session's activity;
 *   s = lastSeenAt, epoch ms, in clear, so recording activity never rewrites (and can never roll back) the tokens.
 *       Not trusted as it is (issue #15): anything but digits, or a time well before the sealed floor, reads as a
 *       session past its idle timeout (lastSeenAt 0), reported through onImpossibleActivity; a time in the future is
 *       the Sessions layer's to refuse (it has the clock).
 * A read is one HMGET, written together with the other reads of the same event-loop turn (redis-read-batch.ts), and
 * one decryption when the value changed. Writes are Lua scripts (registered once with defineCommand) so the value and
 * its TTL change together. Any Redis failure becomes `store_unavailable` (503); an unreadable value (a removed
 * encryption key, tampering) reads as no session.
 *
 * The per-user index (issue #11) is a set per user, `<prefix>user:<SHA-256 of the sub>`, of storage keys: added to on
 * every set, its TTL renewed to `userIndexTtlMs` (at least the longest session) each time; a delete removes the key
 * from it; members whose session expired by TTL are pruned when the user's sessions are listed. Separate commands,
 * not one script, so the session and index keys may live on different Cluster slots.
 */
import type { Cluster, Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { Sealer } from '../crypto/sealer.js'
import { GatewayError } from '../errors.js'
import type { SessionRecord, SessionStore, UserSessionEntry } from './session-store.js'
import { copyRecord } from './record-copy.js'
import { createSessionReader } from './redis-read-batch.js'
import { isIndexedUser, userIndexKeyFor } from './user-index.js'

export type RedisClient = Redis | Cluster

export interface RedisStoreOptions {
  readonly client: RedisClient
  /** Prepended to every key, e.g. `bff:`. */
  readonly keyPrefix: string
  readonly sealer: Sealer
  /** Called when a stored value exists but cannot be opened (wrong or removed key, altered value). */
  readonly onUnreadable?: (key: string) => void
  /** Called when a session's clear-text last-activity time (`s`) is impossible; the session reads as expired. */
  readonly onImpossibleActivity?: (reason: string) => void
  /** TTL of a user's index set, renewed on every set: at least the longest session (SESSION_ABSOLUTE_TIMEOUT). Default 24 h. */
  readonly userIndexTtlMs?: number
}

const DEFAULT_USER_INDEX_TTL_MS = 24 * 3_600_000
/**
 * How many opened records a replica remembers, with the sealed value each came from (about 4 KB each with a ~0.9 KB
 * access token: the sealed value and the parsed record).
 */
const OPENED_RECORDS_MAX = 10_000

/** Activity this much before the sealed floor is clock skew between replicas (floored); further back, tampering. */
const ACTIVITY_SKEW_MS = 60_000
/** The lastSeenAt of a session whose activity cannot be believed: past every idle timeout. */
const EXPIRED_ACTIVITY = 0

/** The last activity from `s` and the sealed floor, or why `s` cannot be believed. */
function lastActivity (floor: number, seen: string | null | undefined): number | string {
  if (seen === null || seen === undefined) return floor
  if (!/^\d{1,15}$/.test(seen)) return 'not a number'
  const at = Number(seen)
  if (at < floor - ACTIVITY_SKEW_MS) return 'before the last write of the session'
  return Math.max(at, floor)
}

const SET_LUA = `if ARGV[4] == 'xx' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`

const TOUCH_LUA = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`

interface WithScripts {
  bffSessionSet?: (key: string, sealed: string, lastSeenAt: string, ttlMs: string, mode: '' | 'xx') => Promise<number>
  bffSessionTouch?: (key: string, lastSeenAt: string, ttlMs: string) => Promise<number>
}

/** The Redis key of a session's storage key. */
export function sessionKeyFor (keyPrefix: string, key: string): string {
  return `${keyPrefix}session:${key}`
}

export function createRedisStore (options: RedisStoreOptions): SessionStore {
  const { client, keyPrefix, sealer, onUnreadable, onImpossibleActivity } = options
  const userIndexTtlMs = options.userIndexTtlMs ?? DEFAULT_USER_INDEX_TTL_MS
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

  // Every request reads its session from Redis (so a logout or a refresh on another replica counts at once), but
  // opening the sealed value (AES-GCM) and parsing it cost ~13 µs of CPU, measured. A value read again unchanged, byte
  // for byte, is the record opened last time: it is taken from here, as a copy. Writes from this replica fill it.
  const opened = new LRUCache<string, { sealed: string, record: SessionRecord }>({ max: OPENED_RECORDS_MAX })

  /** An HMGET answer (sealed record, lastSeenAt) as a record, or undefined; `quiet` reads report nothing. */
  function decode (key: string, sealed: string | null | undefined, seen: string | null | undefined, quiet = false): SessionRecord | undefined {
    if (sealed === null || sealed === undefined) {
      opened.delete(key)
      return undefined
    }
    let entry = opened.get(key)
    if (entry === undefined || entry.sealed !== sealed) {
      const json = sealer.open(sealed, key)
      if (json === undefined) {
        opened.delete(key)
        onUnreadable?.(key)
        return undefined
      }
      // Values sealed before the floor was (issue #15) have none: their creation is the floor.
      const record = JSON.parse(json) as Omit<SessionRecord, 'lastSeenAt'> & { lastSeenAt?: number }
      entry = { sealed, record: { ...record, lastSeenAt: record.lastSeenAt ?? record.createdAt } }
      opened.set(key, entry)
    }
    const activity = lastActivity(entry.record.lastSeenAt, seen)
    if (typeof activity === 'number') return copyRecord(entry.record, { lastSeenAt: activity })
    if (!quiet) onImpossibleActivity?.(activity)
    return copyRecord(entry.record, { lastSeenAt: EXPIRED_ACTIVITY })
  }

  const readFields = createSessionReader(client)

  async function get (key: string, quiet = false): Promise<SessionRecord | undefined> {
    const [sealed, seen] = await command(async () => await readFields(sessionKeyFor(keyPrefix, key)))
    return decode(key, sealed, seen, quiet)
  }

  /** Writes the sealed record and indexes it under its user; with mode 'xx', only if the key still exists. */
  const write = async (key: string, record: SessionRecord, ttlMs: number, mode: '' | 'xx'): Promise<boolean> => {
    // The record is sealed whole: its lastSeenAt is the floor `s` is judged against.
    const sealed = sealer.seal(JSON.stringify(record), key)
    const written = await command(async () => await setScript.call(client, sessionKeyFor(keyPrefix, key), sealed, String(record.lastSeenAt), ttl(ttlMs), mode))
    if (written === 0) return false
    opened.set(key, { sealed, record: copyRecord(record) })
    if (!isIndexedUser(record.sub)) return true
    const indexKey = userIndexKeyFor(keyPrefix, record.sub)
    await command(async () => await client.multi().sadd(indexKey, key).pexpire(indexKey, ttl(userIndexTtlMs)).exec())
    return true
  }

  return {
    get: async key => await get(key),

    async set (key, record, ttlMs) {
      await write(key, record, ttlMs, '')
    },

    async replace (key, record, ttlMs) {
      return await write(key, record, ttlMs, 'xx')
    },

    async touch (key, lastSeenAt, ttlMs) {
      await command(async () => await touchScript.call(client, sessionKeyFor(keyPrefix, key), String(lastSeenAt), ttl(ttlMs)))
    },

    async delete (key) {
      // The record names its user: read before deleting, to take the key out of the user's index (rare: logouts).
      const record = await get(key, true).catch(() => undefined)
      await command(async () => await client.del(sessionKeyFor(keyPrefix, key)))
      opened.delete(key)
      if (record !== undefined && isIndexedUser(record.sub)) await command(async () => await client.srem(userIndexKeyFor(keyPrefix, record.sub), key))
    },

    async listByUser (sub) {
      if (sub === '') return []
      const indexKey = userIndexKeyFor(keyPrefix, sub)
      const keys = await command(async () => await client.smembers(indexKey))
      if (keys.length === 0) return []
      const replies = await command(async () => await Promise.all(keys.map(async key => await readFields(sessionKeyFor(keyPrefix, key)))))
      const entries: UserSessionEntry[] = []
      const gone: string[] = []
      keys.forEach((key, i) => {
        const [sealed, seen] = replies[i] ?? []
        const record = decode(key, sealed, seen)
        if (record === undefined || record.sub !== sub) gone.push(key)
        else entries.push({ key, record })
      })
      if (gone.length > 0) await command(async () => await client.srem(indexKey, ...gone))
      return entries
    },

    // The client belongs to whoever created it (the sessions plugin quits it on close).
    async close () { opened.clear() }
  }
}
