/**
 * The replica holding a session's refresh lock dies while its call is at the IdP: the other replica neither redeems
 * the token meanwhile nor waits past IDP_TIMEOUT, and completes the refresh once the lease is over.
 * The IdP has a refresh-token reuse interval (Auth0 "Reuse Interval"), as it should in this deployment: the dead
 * replica's request may still be processed after its death, and the next redemption then comes within the leeway.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { startTestIdp, testEnv } from '../helpers/gateway.js'
import { keysFor, newEncryptionKey, randomPrefix, startReplica } from './cluster.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const PREFIX = randomPrefix()
const IDP_TIMEOUT_MS = 1_000
const LEASE_MS = 2 * IDP_TIMEOUT_MS + 1_000

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
t.teardown(async () => {
  const keys = await redis.keys(`${PREFIX}*`)
  if (keys.length > 0) await redis.del(...keys)
  await redis.quit()
})

t.test('the lock holder is killed mid-refresh: another replica takes over after the lease', async t => {
  const idp = await startTestIdp(t, { refreshToken: { leewaySec: 60 } })
  const env = testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: PREFIX, SESSION_ENCRYPTION_KEY: newEncryptionKey(), IDP_TIMEOUT: `${IDP_TIMEOUT_MS}ms`, LOG_LEVEL: 'error' })
  const [holder, other] = await Promise.all([startReplica(t, 'holder', env), startReplica(t, 'other', env)])
  const login = await holder.request('POST', '/session')
  const cookie = login.cookie ?? ''
  t.equal(login.status, 200)
  const before = await other.request('GET', '/session', cookie)
  await Promise.all([holder.advance(301_000), other.advance(301_000)])

  const gate = idp.hold('token')
  const dying = holder.request('GET', '/session', cookie).catch(() => 'connection lost')
  await gate.waitForCalls(1)
  const lockKey = keysFor(PREFIX, cookie).lock
  const lease = await redis.pttl(lockKey)
  t.ok(lease > 0 && lease <= LEASE_MS, `the holder has the lock, lease ${lease} ms <= ${LEASE_MS} ms`)
  await holder.kill()
  t.equal(await dying, 'connection lost')

  const started = Date.now()
  const waited = await other.request('GET', '/session', cookie)
  const elapsed = Date.now() - started
  t.equal(waited.status, 503, 'the expired token cannot be used and the refresh belongs to the (dead) holder')
  t.equal(waited.body.code, 'idp_unavailable')
  t.ok(Number(waited.headers.get('retry-after')) >= 1, 'with Retry-After')
  t.ok(elapsed >= IDP_TIMEOUT_MS - 50 && elapsed < IDP_TIMEOUT_MS + 1_500, `waited about IDP_TIMEOUT (${elapsed} ms), not longer`)
  t.equal(idp.stats.tokenCalls.refresh_token, 1, 'the other replica did not redeem the token meanwhile')

  // The lock is a lease: it ends by itself (checked above: its TTL is at most LEASE_MS). End it now rather than wait.
  t.ok(await redis.pttl(lockKey) > 0, 'still held by the dead replica until the lease ends')
  await redis.pexpire(lockKey, 1)
  gate.release() // the dead replica's request, if the IdP still processes it, rotates the token nobody receives

  const after = await other.request('GET', '/session', cookie)
  t.equal(after.status, 200, 'the other replica refreshed')
  t.not(after.body.access_token_expires_at, before.body.access_token_expires_at, 'with a new access token')
  t.equal(idp.stats.reuseDetections, 0, 'no reuse detected')
  t.equal(await redis.exists(lockKey), 0, 'and released the lock')
})
