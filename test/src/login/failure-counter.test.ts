/** The failure counters, in the process and in the real Redis (shared by two clients, as by two replicas). */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { createMemoryFailureCounter, createRedisFailureCounter, type FailureCounter } from '../../../src/login/failure-counter.js'
import { createManualClock } from '../../helpers/manual-clock.js'
import { REDIS_URL, sharedRedis } from '../../helpers/shared-redis.js'

const LIMIT = { max: 3, windowMs: 60_000 }

async function contract (t: Test, counter: FailureCounter, other: FailureCounter, key: string): Promise<void> {
  for (let i = 0; i < 3; i++) t.same(await counter.reserve(key, LIMIT), { allowed: true, remaining: 2 - i }, 'what the window holds after it')
  const refused = await other.reserve(key, LIMIT)
  t.equal(refused.allowed, false, 'the fourth is refused, also by the other instance')
  t.ok(!refused.allowed && refused.retryAfterSec >= 59 && refused.retryAfterSec <= 60, 'with the rest of the window')
  await other.release(key)
  t.same(await counter.reserve(key, LIMIT), { allowed: true, remaining: 0 }, 'a released attempt frees its place')
  t.equal((await counter.reserve(key, LIMIT)).allowed, false, 'a refused attempt did not count')
  await counter.release(key)
  await counter.release(key)
  await counter.release(key)
  await counter.release(key)
  await counter.release(key)
  for (let i = 0; i < 3; i++) t.same(await counter.reserve(key, LIMIT), { allowed: true, remaining: 2 - i }, 'never below zero')
  t.equal((await counter.reserve(key, LIMIT)).allowed, false)
  t.same(await counter.reserve(`${key}-other`, LIMIT), { allowed: true, remaining: 2 }, 'keys are independent')
}

t.test('memory: reserve, refuse, release; a new window after windowMs', async t => {
  const clock = createManualClock()
  const counter = createMemoryFailureCounter(clock)
  await contract(t, counter, counter, 'user:a')
  clock.advance(59_999)
  t.same(await counter.reserve('user:a', LIMIT), { allowed: false, retryAfterSec: 1 })
  clock.advance(1)
  t.same(await counter.reserve('user:a', LIMIT), { allowed: true, remaining: 2 }, 'the window is over')
  clock.advance(60_000)
  await counter.release('user:a')
  t.same(await counter.reserve('user:a', { max: 1, windowMs: 60_000 }), { allowed: true, remaining: 0 }, 'releasing an expired window does nothing')
})

t.test('redis: the same contract across two clients; keys under the namespace expire with their window', async t => {
  const { redis, prefix } = sharedRedis()
  const second = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(async () => { await second.quit() })
  const a = createRedisFailureCounter(redis, `${prefix}login-throttle:`)
  const b = createRedisFailureCounter(second, `${prefix}login-throttle:`)
  await contract(t, a, b, 'user:a')
  t.equal(await redis.get(`${prefix}login-throttle:user:a`), '3')
  const ttl = await redis.pttl(`${prefix}login-throttle:user:a`)
  t.ok(ttl > 0 && ttl <= 60_000, `expires with the window (${ttl} ms)`)
  await a.release('user:never-reserved')
  t.equal(await redis.exists(`${prefix}login-throttle:user:never-reserved`), 0, 'release creates no key')
  const again = createRedisFailureCounter(redis, `${prefix}other:`)
  t.same(await again.reserve('user:a', LIMIT), { allowed: true, remaining: 2 }, 'a second counter on the same client reuses its scripts, in its own namespace')
})

t.test('redis down: reserve rejects (the caller fails closed)', async t => {
  const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null, enableOfflineQueue: false })
  t.teardown(() => { down.disconnect() })
  const counter = createRedisFailureCounter(down, 'bff:login-throttle:')
  await t.rejects(counter.reserve('user:a', LIMIT))
})
