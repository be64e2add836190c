/**
 * The Redis the tests share (TEST_REDIS_URL, default 127.0.0.1:6379: .ci/run starts one when nothing answers), with a
 * key prefix of the calling file's own. When the file's tests end, every key under the prefix is deleted and the
 * client closed.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export function sharedRedis (): { redis: Redis, prefix: string } {
  const prefix = `bff-test:${randomBytes(6).toString('hex')}:`
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 1_000 })
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return { redis, prefix }
}
