import t from 'tap'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import type { SessionRecord } from '../../../src/session/session-store.js'
import { runStoreContract, sampleRecord } from '../../helpers/store-contract.js'

t.test('the memory store keeps the store contract', async t => {
  await runStoreContract(t, () => createMemoryStore({ maxEntries: 100 }))
})

t.test('evicts the least recently used entry beyond maxEntries and reports it', async t => {
  const evicted: Array<[string, SessionRecord]> = []
  const store = createMemoryStore({ maxEntries: 2, onEvict: (key, record) => { evicted.push([key, record]) } })
  t.teardown(async () => { await store.close() })
  await store.set('a', sampleRecord({ sub: 'a' }), 60_000)
  await store.set('b', sampleRecord({ sub: 'b' }), 60_000)
  await store.get('a') // a is now the most recently used
  await store.set('c', sampleRecord({ sub: 'c' }), 60_000)
  t.equal(store.size, 2)
  t.equal(await store.get('b'), undefined)
  t.equal((await store.get('a'))?.sub, 'a')
  t.equal((await store.get('c'))?.sub, 'c')
  t.same(evicted.map(([key, record]) => [key, record.sub]), [['b', 'b']])
})

t.test('delete and overwrite are not reported as evictions', async t => {
  const evicted: string[] = []
  const store = createMemoryStore({ maxEntries: 2, onEvict: key => { evicted.push(key) } })
  t.teardown(async () => { await store.close() })
  await store.set('a', sampleRecord(), 60_000)
  await store.set('a', sampleRecord({ version: 1 }), 60_000)
  await store.touch('a', 5, 60_000)
  await store.delete('a')
  t.same(evicted, [])
  t.equal(store.size, 0)
})

t.test('eviction works without an onEvict callback', async t => {
  const store = createMemoryStore({ maxEntries: 1 })
  t.teardown(async () => { await store.close() })
  await store.set('a', sampleRecord(), 60_000)
  await store.set('b', sampleRecord(), 60_000)
  t.equal(store.size, 1)
  t.equal(await store.get('a'), undefined)
})

t.test('close empties the store', async t => {
  const store = createMemoryStore({ maxEntries: 10 })
  await store.set('a', sampleRecord(), 60_000)
  await store.close()
  t.equal(store.size, 0)
})
