import t from 'tap'
import { createGlobalLimit } from '../../../src/refresh/global-limit.js'

t.test('the gateway-wide limit: a description saying global, or three sessions within 10 s', async t => {
  const limit = createGlobalLimit(() => 0.5)
  t.equal(limit.note('a', undefined, 0, 10_000), 0, 'one session: only that one')
  t.equal(limit.note('a', undefined, 1_000, 11_000), 0, 'the same session again counts once')
  t.equal(limit.note('b', undefined, 2_000, 12_000), 0)
  t.equal(limit.note('c', undefined, 3_000, 13_000), 13_000 + 0.5 * 5_000, 'the third: until its Retry-After plus jitter of up to half of it')
  t.equal(limit.note('d', undefined, 14_000, 15_000), 0, 'older notes are forgotten after 10 s')
  t.equal(createGlobalLimit(() => 0.999).note('x', 'Global token endpoint rate limits exceeded.', 0, 1_000), 1_000 + 999, 'the jitter is at least up to 1 s')
})
