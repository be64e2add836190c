/**
 * The behaviour every SessionStore must have, as a reusable tap suite: `runStoreContract(t, makeStore)`.
 * Used for the memory store now and for any network store later. Expiry is the Sessions layer's job (it compares
 * timestamps with the injected clock), so nothing here waits: a store's own TTL is only garbage collection.
 */
import type { Test } from 'tap'
import type { SessionRecord, SessionStore } from '../../src/session/session-store.js'

export type ContractTest = Test

export type MakeStore = () => SessionStore | Promise<SessionStore>

/** A full record with every optional field set, JSON-safe. */
export function sampleRecord (overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    sub: 'auth0|alice',
    user: { sub: 'auth0|alice', name: 'Alice', 'https://example.com/roles': ['admin'], nested: { a: 1 } },
    accessToken: 'at-1',
    refreshToken: 'rt-1',
    expiresAt: 1_900_000_300_000,
    lifetimeMs: 300_000,
    scope: 'openid profile offline_access',
    createdAt: 1_900_000_000_000,
    absoluteExpiresAt: 1_900_043_200_000,
    lastSeenAt: 1_900_000_000_000,
    version: 0,
    lastRefreshAt: 1_900_000_100_000,
    refreshNotBefore: 1_900_000_110_000,
    refreshBlockedBy: 'refresh_rate_limited',
    ...overrides
  }
}

const TTL = 60_000

export async function runStoreContract (t: ContractTest, makeStore: MakeStore): Promise<void> {
  async function fresh (t: ContractTest): Promise<SessionStore> {
    const store = await makeStore()
    t.teardown(async () => { await store.close() })
    return store
  }

  await t.test('get of an unknown key resolves undefined', async t => {
    const store = await fresh(t)
    t.equal(await store.get('nope'), undefined)
  })

  await t.test('set then get returns an equal record, every field kept', async t => {
    const store = await fresh(t)
    const record = sampleRecord()
    await store.set('k1', record, TTL)
    t.same(await store.get('k1'), record)
    // JSON-safe: what comes back survives a JSON round trip unchanged.
    t.same(JSON.parse(JSON.stringify(await store.get('k1'))), record)
  })

  await t.test('a record without optional fields comes back without them', async t => {
    const store = await fresh(t)
    const { refreshToken: _rt, lastRefreshAt: _lr, refreshNotBefore: _nb, refreshBlockedBy: _rb, ...minimal } = sampleRecord()
    await store.set('k1', minimal, TTL)
    const got = await store.get('k1')
    t.same(got, minimal)
    t.equal(got !== undefined && 'refreshToken' in got, false)
  })

  await t.test('set overwrites the previous record', async t => {
    const store = await fresh(t)
    await store.set('k1', sampleRecord(), TTL)
    await store.set('k1', sampleRecord({ accessToken: 'at-2', version: 1 }), TTL)
    const got = await store.get('k1')
    t.equal(got?.accessToken, 'at-2')
    t.equal(got?.version, 1)
  })

  await t.test('replace writes only over a live key (a logout is never undone by a late refresh)', async t => {
    const store = await fresh(t)
    if (store.replace === undefined) {
      t.pass('this store has no replace: the Sessions layer reads, then writes')
      return
    }
    t.equal(await store.replace('gone', sampleRecord(), TTL), false, 'a missing key is not written')
    t.equal(await store.get('gone'), undefined, 'and not created')
    await store.set('k1', sampleRecord(), TTL)
    t.equal(await store.replace('k1', sampleRecord({ accessToken: 'at-2', version: 1 }), TTL), true)
    t.equal((await store.get('k1'))?.accessToken, 'at-2', 'a live key is replaced')
    await store.delete('k1')
    t.equal(await store.replace('k1', sampleRecord({ accessToken: 'at-3' }), TTL), false, 'after a delete, nothing comes back')
    t.equal(await store.get('k1'), undefined)
  })

  await t.test('keys are independent', async t => {
    const store = await fresh(t)
    await Promise.all([
      store.set('a', sampleRecord({ sub: 'a' }), TTL),
      store.set('b', sampleRecord({ sub: 'b' }), TTL),
      store.set('c', sampleRecord({ sub: 'c' }), TTL)
    ])
    t.same([(await store.get('a'))?.sub, (await store.get('b'))?.sub, (await store.get('c'))?.sub], ['a', 'b', 'c'])
    await store.delete('b')
    t.same([(await store.get('a'))?.sub, await store.get('b'), (await store.get('c'))?.sub], ['a', undefined, 'c'])
  })

  await t.test('mutating the object passed to set does not change what is stored', async t => {
    const store = await fresh(t)
    const record = sampleRecord()
    await store.set('k1', record, TTL)
    const mutable = record as unknown as { accessToken: string, user: Record<string, unknown> }
    mutable.accessToken = 'changed'
    mutable.user.name = 'Mallory'
    const got = await store.get('k1')
    t.equal(got?.accessToken, 'at-1')
    t.equal(got?.user.name, 'Alice')
  })

  await t.test('mutating a record read back does not change what is stored', async t => {
    const store = await fresh(t)
    await store.set('k1', sampleRecord(), TTL)
    const first = await store.get('k1') as unknown as { accessToken: string, user: Record<string, unknown> & { nested: { a: number }, 'https://example.com/roles': string[] } }
    // A store may hand out frozen records (then the writes throw) or copies (then they are lost): both are fine.
    try { first.accessToken = 'changed' } catch {}
    try { first.user.name = 'Mallory' } catch {}
    try { first.user.nested.a = 2 } catch {}
    try { first.user['https://example.com/roles'].push('root') } catch {}
    const again = await store.get('k1')
    t.equal(again?.accessToken, 'at-1')
    t.equal(again?.user.name, 'Alice')
    t.same(again?.user.nested, { a: 1 })
    t.same(again?.user['https://example.com/roles'], ['admin'])
  })

  await t.test('touch sets lastSeenAt and keeps everything else', async t => {
    const store = await fresh(t)
    const record = sampleRecord()
    await store.set('k1', record, TTL)
    await store.touch('k1', record.lastSeenAt + 5_000, TTL)
    t.same(await store.get('k1'), { ...record, lastSeenAt: record.lastSeenAt + 5_000 })
  })

  await t.test('touch of a missing key does not create it', async t => {
    const store = await fresh(t)
    await store.touch('ghost', 1, TTL)
    t.equal(await store.get('ghost'), undefined)
  })

  await t.test('delete removes the record; deleting a missing key resolves', async t => {
    const store = await fresh(t)
    await store.set('k1', sampleRecord(), TTL)
    await store.delete('k1')
    t.equal(await store.get('k1'), undefined)
    await store.delete('k1')
    await store.delete('never-there')
    t.equal(await store.get('never-there'), undefined)
  })

  await t.test('take hands the record out once, to one of several takers, and removes it from the user index', async t => {
    const store = await fresh(t)
    if (store.take === undefined) return
    const record = sampleRecord({ sub: 'taker' })
    await store.set('k1', record, TTL)
    const taken = await Promise.all([store.take('k1'), store.take('k1'), store.take('k1')])
    t.same(taken.filter(r => r !== undefined), [record], 'one taker got it')
    t.equal(await store.get('k1'), undefined)
    t.same(await store.listByUser?.('taker') ?? [], [])
    t.equal(await store.countByUser?.('taker') ?? 0, 0)
    t.equal(await store.take('never-there'), undefined)
  })

  await t.test('a record stays readable well within its ttl', async t => {
    const store = await fresh(t)
    const record = sampleRecord()
    await store.set('k1', record, 10 * 60_000)
    t.ok(await store.get('k1'))
    await store.touch('k1', record.lastSeenAt + 2, 10 * 60_000)
    t.equal((await store.get('k1'))?.lastSeenAt, record.lastSeenAt + 2)
  })

  // The per-user index (issue #11). A store without listByUser cannot list a user's sessions; both built-in stores have it.
  await t.test('listByUser: the sessions of one user, kept through set, touch and delete; an empty sub is never indexed', async t => {
    const store = await fresh(t)
    const list = store.listByUser?.bind(store)
    if (list === undefined) {
      t.pass('this store keeps no per-user index')
      return
    }
    const keysOf = async (sub: string): Promise<string[]> => (await list(sub)).map(entry => entry.key).sort()
    await store.set('u1', sampleRecord({ sub: 'alice' }), TTL)
    await store.set('u2', sampleRecord({ sub: 'alice', accessToken: 'at-u2' }), TTL)
    await store.set('u3', sampleRecord({ sub: 'bob' }), TTL)
    await store.set('u4', sampleRecord({ sub: '' }), TTL)
    t.same(await keysOf('alice'), ['u1', 'u2'])
    t.same(await keysOf('bob'), ['u3'])
    t.same(await keysOf(''), [], 'sessions without a sub are not one user')
    t.same(await keysOf('nobody'), [])
    t.equal((await list('alice')).find(entry => entry.key === 'u2')?.record.accessToken, 'at-u2', 'entries carry their records')
    const touchedAt = sampleRecord().lastSeenAt + 7
    await store.touch('u1', touchedAt, TTL)
    await store.set('u2', sampleRecord({ sub: 'alice', version: 1 }), TTL)
    t.same(await keysOf('alice'), ['u1', 'u2'], 'touch and overwrite keep the entry')
    t.equal((await list('alice')).find(entry => entry.key === 'u1')?.record.lastSeenAt, touchedAt)
    await store.delete('u1')
    t.same(await keysOf('alice'), ['u2'], 'delete takes the key out')
    await store.delete('u2')
    await store.delete('u3')
    t.same(await keysOf('alice'), [])
    t.same(await keysOf('bob'), [])
  })

  await t.test('close resolves', async t => {
    const store = await makeStore()
    await store.set('k1', sampleRecord(), TTL)
    await store.close()
    t.ok(true, 'closed without throwing')
  })
}
