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
 *
 * Expiry (issue #15): every session is also a member of one sorted set, `<prefix>session-expiries`, scored with the
 * time it expires (its last write or touch plus the TTL the Sessions layer gave). The hash itself lives `graceMs`
 * longer, so the sweeper that claims an expired member (one script: ZRANGEBYSCORE then ZREM, so each member goes to
 * one replica) can still read the refresh token it must revoke. Taking a session (ending it) is one script too: read
 * and delete, so of a logout and a sweeper racing for a key only one gets the record.
 */
import type { Cluster, Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from '../clock.js'
import type { Sealer } from '../crypto/sealer.js'
import { GatewayError } from '../errors.js'
import type { ClaimedExpiry, SessionRecord, SessionStore, UserSessionEntry } from './session-store.js'
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
  /** The clock expiry scores are on (the Sessions layer's). Default: the system's. */
  readonly clock?: Clock
  /** How much longer a session's hash outlives its expiry, for the sweeper to read it. Default 5 minutes. */
  readonly graceMs?: number
}

const DEFAULT_USER_INDEX_TTL_MS = 24 * 3_600_000
const DEFAULT_GRACE_MS = 300_000
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

/** Reads and deletes a session's hash in one step: of several takers, one gets the fields. */
const TAKE_LUA = `local fields = redis.call('HMGET', KEYS[1], 'r', 's')
if not fields[1] then return false end
redis.call('DEL', KEYS[1])
return fields`

/** Hands out (and removes) the members of the expiry set due by ARGV[1], at most ARGV[2]: each to one caller. */
const CLAIM_LUA = `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
for i = 1, #due, 2 do redis.call('ZREM', KEYS[1], due[i]) end
return due`

interface WithScripts {
  bffSessionSet?: (key: string, sealed: string, lastSeenAt: string, ttlMs: string, mode: '' | 'xx') => Promise<number>
  bffSessionTouch?: (key: string, lastSeenAt: string, ttlMs: string) => Promise<number>
  bffSessionTake?: (key: string) => Promise<[string | null, string | null] | null>
  /** Flat: key, score, key, score… */
  bffSessionClaim?: (key: string, now: string, limit: string) => Promise<string[]>
}

/** The Redis key of the sorted set of session expiries. */
export function expiriesKeyFor (keyPrefix: string): string {
  return `${keyPrefix}session-expiries`
}

/** True for a session's record (the store also keeps MFA pending logins, which have a `kind` and no expiry entry). */
function isSession (record: SessionRecord): boolean {
  return !('kind' in record)
}

/** The Redis key of a session's storage key. */
export function sessionKeyFor (keyPrefix: string, key: string): string {
  return `${keyPrefix}session:${key}`
}

export function createRedisStore (options: RedisStoreOptions): SessionStore {
  const { client, keyPrefix, sealer, onUnreadable, onImpossibleActivity } = options
  const userIndexTtlMs = options.userIndexTtlMs ?? DEFAULT_USER_INDEX_TTL_MS
  const clock = options.clock ?? systemClock
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS
  const expiriesKey = expiriesKeyFor(keyPrefix)
  const scripted = client as RedisClient & WithScripts
  if (scripted.bffSessionSet === undefined) client.defineCommand('bffSessionSet', { numberOfKeys: 1, lua: SET_LUA })
  if (scripted.bffSessionTouch === undefined) client.defineCommand('bffSessionTouch', { numberOfKeys: 1, lua: TOUCH_LUA })
  if (scripted.bffSessionTake === undefined) client.defineCommand('bffSessionTake', { numberOfKeys: 1, lua: TAKE_LUA })
  if (scripted.bffSessionClaim === undefined) client.defineCommand('bffSessionClaim', { numberOfKeys: 1, lua: CLAIM_LUA })
  const setScript = scripted.bffSessionSet
  const touchScript = scripted.bffSessionTouch
  const takeScript = scripted.bffSessionTake
  const claimScript = scripted.bffSessionClaim
  /* c8 ignore next -- defineCommand always adds the methods */
  if (setScript === undefined || touchScript === undefined || takeScript === undefined || claimScript === undefined) throw new TypeError('redis store: defineCommand did not register the scripts')

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

  /** Records when a session expires, for the sweeper. */
  const schedule = async (key: string, ttlMs: number): Promise<void> => {
    await command(async () => await client.zadd(expiriesKey, clock.now() + Math.max(1, Math.ceil(ttlMs)), key))
  }

  /** Reads and deletes a session in one step, then takes it out of its user's index and the expiry set. */
  const take = async (key: string): Promise<SessionRecord | undefined> => {
    const fields = await command(async () => await takeScript.call(client, sessionKeyFor(keyPrefix, key)))
    const record = fields === null ? undefined : decode(key, fields[0], fields[1], true)
    opened.delete(key)
    // The record is ours now and must reach its revocation: a failed clean-up is left to the sweeper (a claimed key
    // that is gone is skipped) and to the index's pruning on listing.
    const cleanUp = [client.zrem(expiriesKey, key)]
    if (record !== undefined && isIndexedUser(record.sub)) cleanUp.push(client.srem(userIndexKeyFor(keyPrefix, record.sub), key))
    await Promise.allSettled(cleanUp)
    return record
  }

  async function get (key: string, quiet = false): Promise<SessionRecord | undefined> {
    const [sealed, seen] = await command(async () => await readFields(sessionKeyFor(keyPrefix, key)))
    return decode(key, sealed, seen, quiet)
  }

  /** Writes the sealed record and indexes it under its user; with mode 'xx', only if the key still exists. */
  const write = async (key: string, record: SessionRecord, ttlMs: number, mode: '' | 'xx'): Promise<boolean> => {
    // The record is sealed whole: its lastSeenAt is the floor `s` is judged against.
    const sealed = sealer.seal(JSON.stringify(record), key)
    const session = isSession(record)
    const keyTtl = session ? ttlMs + graceMs : ttlMs
    const written = await command(async () => await setScript.call(client, sessionKeyFor(keyPrefix, key), sealed, String(record.lastSeenAt), ttl(keyTtl), mode))
    if (written === 0) return false
    opened.set(key, { sealed, record: copyRecord(record) })
    if (session) await schedule(key, ttlMs)
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
      // Only sessions are touched: the hash keeps its grace, the expiry set the new deadline.
      const touched = await command(async () => await touchScript.call(client, sessionKeyFor(keyPrefix, key), String(lastSeenAt), ttl(ttlMs + graceMs)))
      if (touched === 1) await schedule(key, ttlMs)
    },

    async delete (key) {
      await take(key)
    },

    take,

    async claimExpired (now, limit) {
      const flat = await command(async () => await claimScript.call(client, expiriesKey, String(now), String(limit)))
      const claimed: ClaimedExpiry[] = []
      // Past its due time plus the grace, the hash may have expired by its TTL: missing then, it was lost.
      for (let i = 0; i + 1 < flat.length; i += 2) claimed.push({ key: flat[i] ?? '', overdue: Number(flat[i + 1]) + graceMs <= now })
      return claimed
    },

    async countByUser (sub) {
      return isIndexedUser(sub) ? await command(async () => await client.scard(userIndexKeyFor(keyPrefix, sub))) : 0
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
