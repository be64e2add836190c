/**
 * The batched session reader against the shared Redis (own key prefix, deleted at the end): reads of one event-loop
 * turn leave the socket in one writev, each gets its own answer, and a lone read and a disconnected client behave
 * as a plain HMGET would.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { createSessionReader } from '../../../src/session/redis-read-batch.js'
import { sharedRedis } from '../../helpers/shared-redis.js'

const { redis, prefix: PREFIX } = sharedRedis()

/** Counts how the socket hands data to the kernel: `_write` per chunk, or `_writev` for corked chunks together. */
function countSocketWrites (client: Redis): { counts: { single: number, vectored: number[] }, restore: () => void } {
  const socket = client.stream
  const counts = { single: 0, vectored: [] as number[] }
  /* eslint-disable @typescript-eslint/unbound-method -- the originals are called with the socket as this */
  const write = socket._write
  const writev = socket._writev
  /* eslint-enable @typescript-eslint/unbound-method */
  socket._write = function (...args: Parameters<typeof socket._write>) { counts.single++; write.apply(this, args) }
  socket._writev = function (chunks, callback) { counts.vectored.push(chunks.length); writev?.call(this, chunks, callback) }
  return { counts, restore: () => { socket._write = write; socket._writev = writev } }
}

t.test('reads of one turn leave together, each with its own answer', async t => {
  await redis.hset(`${PREFIX}a`, 'r', 'sealed-a', 's', '1')
  await redis.hset(`${PREFIX}b`, 'r', 'sealed-b')
  const read = createSessionReader(redis)
  await read(`${PREFIX}a`) // connected and warm
  const writes = countSocketWrites(redis)
  const keys = ['a', 'missing', 'b', ...Array.from({ length: 17 }, (_, i) => `missing-${i}`)]
  const answers = await Promise.all(keys.map(async key => await read(`${PREFIX}${key}`)))
  writes.restore()
  t.same(answers[0], ['sealed-a', '1'])
  t.same(answers[1], [null, null], 'a missing session reads as nulls')
  t.same(answers[2], ['sealed-b', null], 'a missing field reads as null')
  t.same(answers.slice(3), Array.from({ length: 17 }, () => [null, null]))
  t.same(writes.counts, { single: 0, vectored: [20] }, 'twenty HMGETs, one writev')
})

t.test('a lone read is an HMGET of its own', async t => {
  await redis.hset(`${PREFIX}lone`, 'r', 'sealed-lone', 's', '7')
  const read = createSessionReader(redis)
  await read(`${PREFIX}warm`)
  const writes = countSocketWrites(redis)
  t.same(await read(`${PREFIX}lone`), ['sealed-lone', '7'])
  writes.restore()
  t.same(writes.counts, { single: 1, vectored: [] })
})

t.test('reads in successive turns are separate batches', async t => {
  await redis.hset(`${PREFIX}x`, 'r', 'sealed-x')
  const read = createSessionReader(redis)
  const first = await Promise.all([read(`${PREFIX}x`), read(`${PREFIX}none`)])
  const second = await Promise.all([read(`${PREFIX}none`), read(`${PREFIX}x`)])
  t.same(first, [['sealed-x', null], [null, null]])
  t.same(second, [[null, null], ['sealed-x', null]], 'the next turn starts a new batch with its own answers')
})

t.test('without a connection every read of the batch fails at once, as a plain command would', async t => {
  // A port nothing listens on; no offline queue, as the gateway configures ioredis.
  const down = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  t.teardown(() => { down.disconnect() })
  const read = createSessionReader(down)
  const results = await Promise.allSettled([read('k1'), read('k2')])
  t.same(results.map(result => result.status), ['rejected', 'rejected'])
  t.match(results[0], { reason: { message: /enableOfflineQueue|Connection is closed|ECONNREFUSED/ } })
})
