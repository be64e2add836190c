import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { RedisConfig } from '../fastify.config.js'
import type { Clock } from '../src/clock.js'
import { createSealer } from '../src/crypto/sealer.js'
import { createMemoryStore } from '../src/session/memory-store.js'
import { createLocalLock, createRedisLock, type RedisClient, type RefreshLock } from '../src/session/refresh-lock.js'
import { createRedisEndBus } from '../src/session/redis-end-bus.js'
import { createRedisStore } from '../src/session/redis-store.js'
import { createSessionEnder, type EndBus, type SessionEnder } from '../src/session/session-end.js'
import type { SessionRecord, SessionStore } from '../src/session/session-store.js'
import { createSessions, type Sessions } from '../src/session/sessions.js'
import { startSweeper, type Timers } from '../src/session/sweeper.js'
import { createTunnelRegistry, type TunnelRegistry } from '../src/session/tunnels.js'

declare module 'fastify' {
  interface FastifyInstance {
    sessionStore: SessionStore
    /**
     * Where pending MFA logins are kept. In memory mode a bounded LRU of their own (MFA_PENDING_MAX_ENTRIES), so they
     * never evict a session; with Redis (keys that expire, never evicted) or an injected store, the session store.
     */
    pendingLoginStore: SessionStore
    sessions: Sessions
    /** Where every session end goes (issue #15); the auth plugin gives it the IdP revocation. */
    sessionEnder: SessionEnder
    /** The open `/api` WebSocket tunnels, by session: closed (4401) when their session ends. */
    tunnels: TunnelRegistry
    /** One refresh per session at a time: across replicas with Redis, in this process otherwise. */
    refreshLock: RefreshLock
    /** The ioredis client when SESSION_STORE=redis (e.g. for @fastify/rate-limit's `redis` option), else null. */
    sessionRedis: RedisClient | null
  }
}

export interface SessionsPluginOptions {
  clock: Clock
  /** A store to use instead of the configured one (tests, embedding). */
  store?: SessionStore | undefined
  /** The refresh lock to go with an injected store; an in-process lock by default. */
  lock?: RefreshLock | undefined
  /** The sweeper's timers (tests drive them by hand). */
  timers?: Timers | undefined
}

/** Reconnection back-off: quick, so the gateway is back within a second of Redis. */
const RECONNECT_STEP_MS = 100
const RECONNECT_MAX_MS = 1_000

/**
 * Chooses the session store: an injected one, else Redis when SESSION_STORE=redis, else the bounded memory store;
 * and the session lifecycle and refresh lock on top.
 */
async function sessionsPlugin (fastify: FastifyInstance, opts: SessionsPluginOptions): Promise<void> {
  const { session, store: storeConfig } = fastify.config
  let store: SessionStore
  let pendingStore: SessionStore | undefined
  let lock: RefreshLock
  let client: RedisClient | null = null
  let closing = false
  const onImpossibleActivity = (reason: string): void => {
    fastify.log.warn({ event: 'session_activity_invalid', reason }, 'a stored session\'s last-activity time is impossible (the stored value was altered?): treated as expired')
  }
  let bus: EndBus | undefined
  // The memory store reports what it drops (eviction, expiry) before the Sessions layer exists: bound below.
  let dropped: (key: string, record: SessionRecord, reason: 'evicted' | 'expired') => void = () => {}
  if (opts.store !== undefined) {
    store = opts.store
    lock = opts.lock ?? createLocalLock()
  } else if (storeConfig.kind === 'redis' && storeConfig.redis !== undefined) {
    const redis = storeConfig.redis
    client = createRedisClient(redis)
    await connect(fastify, client, redis, () => closing)
    const sealer = createSealer(storeConfig.encryptionKeys.map(key => Buffer.from(key, 'base64url')))
    store = createRedisStore({
      client,
      keyPrefix: redis.keyPrefix,
      sealer,
      userIndexTtlMs: session.absoluteTimeoutMs,
      onImpossibleActivity,
      clock: opts.clock,
      // A session's hash outlives its expiry this long, for a sweeper to read its refresh token and revoke it.
      graceMs: Math.max(300_000, 4 * session.sweepIntervalMs),
      onUnreadable: () => { fastify.log.warn('a stored session cannot be decrypted (its SESSION_ENCRYPTION_KEY was removed, or the value was altered): treated as no session') }
    })
    lock = createRedisLock(client, { keyPrefix: redis.keyPrefix })
    bus = await createRedisEndBus({
      client,
      keyPrefix: redis.keyPrefix,
      onError: err => { if (!closing) fastify.log.debug({ reason: err.message }, 'session end channel: Redis unreachable') }
    })
    fastify.log.info({ redis: describe(redis), keyPrefix: redis.keyPrefix, sealingKeyId: sealer.keyIds[0] }, 'session store: Redis')
  } else {
    store = createMemoryStore({
      maxEntries: session.maxEntries,
      clock: opts.clock,
      onEvict: () => { fastify.log.info('session store at its bound (SESSION_MAX_ENTRIES): least recently used session evicted') },
      onDrop: (key, record, reason) => { dropped(key, record, reason) }
    })
    pendingStore = createMemoryStore({
      maxEntries: fastify.config.mfa.pendingMaxEntries,
      onEvict: () => { fastify.log.info('pending MFA logins at their bound (MFA_PENDING_MAX_ENTRIES): least recently used pending login evicted') }
    })
    lock = createLocalLock()
  }
  fastify.decorate('sessionStore', store)
  fastify.decorate('pendingLoginStore', pendingStore ?? store)
  fastify.decorate('refreshLock', lock)
  fastify.decorate<RedisClient | null>('sessionRedis', client)
  const ender = createSessionEnder({ log: fastify.log, bus })
  const sessions = createSessions({
    store,
    clock: opts.clock,
    idleTimeoutMs: session.idleTimeoutMs,
    absoluteTimeoutMs: session.absoluteTimeoutMs,
    onImpossibleActivity,
    maxPerUser: session.maxPerUser,
    ender
  })
  dropped = (key, record, reason) => { sessions.dropped(key, record, reason) }
  const tunnels = createTunnelRegistry({
    isLive: async key => await sessions.isLiveKey(key),
    onError: err => { fastify.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'cannot check the session of a new tunnel') }
  })
  sessions.onEnded(key => { tunnels.close(key) })
  fastify.decorate('sessions', sessions)
  fastify.decorate('sessionEnder', ender)
  fastify.decorate('tunnels', tunnels)

  // The sweeper: sessions that expired unseen are ended (their refresh tokens revoked), and tunnels whose session
  // is gone (a missed message from another replica) are closed.
  const sweeper = startSweeper({
    intervalMs: session.sweepIntervalMs,
    timers: opts.timers,
    run: async () => {
      await sessions.sweep()
      // All at once: the Redis store sends the reads of one event-loop turn as one pipeline.
      await Promise.all(tunnels.keys().map(async key => { if (!await sessions.isLiveKey(key)) tunnels.close(key) }))
    },
    onError: err => { fastify.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'session sweep failed; retried at the next interval') }
  })
  fastify.addHook('onClose', async () => {
    closing = true
    await sweeper.stop()
    await ender.drain()
    await bus?.close()
    await store.close()
    await pendingStore?.close()
    if (client === null) return
    if (client.status === 'ready') await client.quit().catch(() => { client?.disconnect() })
    else client.disconnect()
  })
}

/** Where the store is, for logs: hosts and db, never the password. */
function describe (redis: RedisConfig): string {
  if (redis.clusterNodes.length > 0) return `cluster ${redis.clusterNodes.map(node => `${node.host}:${node.port}`).join(',')}`
  if (redis.sentinels.length > 0) return `sentinel ${redis.sentinelMaster ?? ''}@${redis.sentinels.map(node => `${node.host}:${node.port}`).join(',')}`
  const url = new URL(redis.url ?? 'redis://localhost')
  const db = url.pathname.length > 1 ? ` db ${url.pathname.slice(1)}` : ''
  return `${url.protocol === 'rediss:' ? 'tls ' : ''}${url.host}${db}`
}

/**
 * ioredis, set to fail fast: no offline queue (a command while disconnected fails at once → 503), one retry for a
 * command caught by a disconnect, a per-command timeout, and reconnection forever with a short back-off.
 */
export function createRedisClient (redis: RedisConfig): RedisClient {
  const url = redis.url === undefined ? undefined : new URL(redis.url)
  const credentials = url === undefined
    ? {}
    : {
        ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
        ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
        ...(url.protocol === 'rediss:' ? { tls: { servername: url.hostname } } : {})
      }
  const db = url === undefined || url.pathname.length <= 1 ? 0 : Number(url.pathname.slice(1))
  const common: RedisOptions = {
    connectTimeout: redis.timeoutMs,
    commandTimeout: redis.timeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS)
  }
  if (redis.clusterNodes.length > 0) {
    const options: ClusterOptions = {
      redisOptions: { ...common, ...credentials },
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: (times: number) => Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS)
    }
    return new Cluster(redis.clusterNodes.map(node => ({ host: node.host, port: node.port })), options)
  }
  if (redis.sentinels.length > 0) {
    return new Redis({
      ...common,
      ...credentials,
      db,
      sentinels: redis.sentinels.map(node => ({ host: node.host, port: node.port })),
      name: redis.sentinelMaster ?? 'mymaster'
    })
  }
  return new Redis(redis.url ?? 'redis://localhost:6379', common)
}

/**
 * First connection at boot. An unreachable Redis does not stop the gateway: it starts, answers 503 store_unavailable
 * where a session is needed, and serves again as soon as ioredis reconnects. Each change of state is logged once.
 */
async function connect (fastify: FastifyInstance, client: RedisClient, redis: RedisConfig, closing: () => boolean): Promise<void> {
  let down = false
  const lost = (reason: string): void => {
    if (down || closing()) return
    down = true
    fastify.log.error({ redis: describe(redis), reason }, 'session store: Redis unreachable; requests that need a session get 503 store_unavailable until it is back')
  }
  client.on('error', (err: Error) => { lost(err.message) })
  client.on('close', () => { lost('connection closed') })
  client.on('ready', () => {
    if (!down) return
    down = false
    fastify.log.info({ redis: describe(redis) }, 'session store: Redis reachable again')
  })
  // The first attempt ends the wait, whatever its outcome (logged by the listeners; ioredis keeps reconnecting). A
  // single Redis rejects connect() when it cannot be reached, but a Cluster's connect() settles only once the cluster
  // is usable, which may be never: its first close ends the wait instead.
  await new Promise<void>(resolve => {
    const done = (): void => {
      client.off('close', done)
      resolve()
    }
    client.once('close', done)
    client.connect().then(done, done)
  })
}

export default fp(sessionsPlugin, { fastify: '5.x', name: 'bff-sessions', dependencies: ['bff-config'] })
