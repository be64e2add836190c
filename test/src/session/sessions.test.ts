import t from 'tap'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { isWellFormedSessionId, newSessionId, storageKey } from '../../../src/session/session-id.js'
import type { SessionRecord, SessionStore } from '../../../src/session/session-store.js'
import { createSessions, type NewSession } from '../../../src/session/sessions.js'
import { sessionView } from '../../../src/session/session-view.js'
import { createManualClock } from '../../helpers/manual-clock.js'

const IDLE = 10 * 60_000
const ABSOLUTE = 30 * 60_000

const NEW: NewSession = {
  sub: 'auth0|alice',
  user: { sub: 'auth0|alice', name: 'Alice' },
  accessToken: 'at-1',
  refreshToken: 'rt-1',
  expiresAt: Date.UTC(2030, 0, 1) + 300_000,
  lifetimeMs: 300_000,
  scope: 'openid'
}

interface Spy extends SessionStore { ops: string[] }

/** A memory store that records which operations reached it, and with which ttl. */
function spyStore (): Spy {
  const inner = createMemoryStore({ maxEntries: 100 })
  const ops: string[] = []
  return {
    ops,
    async get (key) { ops.push('get'); return await inner.get(key) },
    async set (key, record, ttl) { ops.push(`set ${ttl}`); await inner.set(key, record, ttl) },
    async touch (key, lastSeenAt, ttl) { ops.push(`touch ${ttl}`); await inner.touch(key, lastSeenAt, ttl) },
    async delete (key) { ops.push('delete'); await inner.delete(key) },
    async close () { await inner.close() }
  }
}

function setup (idleTimeoutMs = IDLE, absoluteTimeoutMs = ABSOLUTE) {
  const clock = createManualClock()
  const store = spyStore()
  const sessions = createSessions({ store, clock, idleTimeoutMs, absoluteTimeoutMs })
  return { clock, store, sessions }
}

t.test('session ids are 256-bit base64url and stored under their SHA-256, never as is', async t => {
  const { clock, store, sessions } = setup()
  const { id, record } = await sessions.create(NEW)
  t.match(id, /^[A-Za-z0-9_-]{43}$/)
  t.ok(isWellFormedSessionId(id))
  t.not(storageKey(id), id)
  t.equal(await store.get(id), undefined)
  t.same(await store.get(storageKey(id)), record)
  t.same(record, { ...NEW, createdAt: clock.now(), absoluteExpiresAt: clock.now() + ABSOLUTE, lastSeenAt: clock.now(), version: 0 })
  t.same(store.ops.slice(0, 1), [`set ${IDLE}`])
  t.not(newSessionId(), newSessionId())
})

t.test('malformed ids never reach the store', async t => {
  const { store, sessions } = setup()
  for (const bad of ['', 'short', 'x'.repeat(42), `${'x'.repeat(42)}!`, 'x'.repeat(44)]) {
    t.equal(isWellFormedSessionId(bad), false, bad)
    t.equal(await sessions.load(bad), undefined)
    t.equal(await sessions.peek(bad), undefined)
    await sessions.end(bad, 'logout')
  }
  t.same(store.ops, [])
})

t.test('an unknown well-formed id loads as undefined', async t => {
  const { sessions } = setup()
  t.equal(await sessions.load(newSessionId()), undefined)
})

t.test('idle timeout: the session ends idleTimeout after the last recorded activity', async t => {
  const { clock, store, sessions } = setup()
  const { id } = await sessions.create(NEW)
  clock.advance(IDLE - 1)
  t.ok(await sessions.load(id), 'alive 1 ms before the idle timeout')
  clock.advance(IDLE)
  t.equal(await sessions.load(id), undefined, 'dead after a second idle period')
  t.equal(await store.get(storageKey(id)), undefined, 'and deleted from the store')
})

t.test('idle timeout is sliding: activity keeps the session alive past one idle period', async t => {
  const { clock, sessions } = setup()
  const { id } = await sessions.create(NEW)
  clock.advance(9 * 60_000)
  t.equal((await sessions.load(id))?.lastSeenAt, clock.now())
  clock.advance(9 * 60_000)
  t.ok(await sessions.load(id), '18 min after login, 9 min after activity')
  clock.advance(IDLE)
  t.equal(await sessions.load(id), undefined)
})

t.test('exactly at the idle timeout the session is gone', async t => {
  const { clock, sessions } = setup()
  const { id } = await sessions.create(NEW)
  clock.advance(IDLE)
  t.equal(await sessions.load(id), undefined)
})

t.test('absolute lifetime: activity does not extend it', async t => {
  const { clock, sessions } = setup()
  const { id } = await sessions.create(NEW)
  for (let i = 0; i < 3; i++) {
    clock.advance(9 * 60_000)
    t.ok(await sessions.load(id), `alive at ${(i + 1) * 9} min`)
  }
  clock.advance(3 * 60_000 - 1)
  t.ok(await sessions.load(id), 'alive 1 ms before the absolute lifetime')
  clock.advance(1)
  t.equal(await sessions.load(id), undefined, 'dead at the absolute lifetime despite activity')
})

t.test('touch is throttled to min(60 s, idle/10) and its ttl never passes the absolute end', async t => {
  const { clock, store, sessions } = setup()
  const { id } = await sessions.create(NEW)
  store.ops.length = 0
  clock.advance(59_999)
  const untouched = await sessions.load(id)
  t.equal(untouched?.lastSeenAt, clock.now() - 59_999)
  t.same(store.ops, ['get'], 'no write within the touch interval')
  clock.advance(1)
  const touched = await sessions.load(id)
  t.equal(touched?.lastSeenAt, clock.now())
  t.same(store.ops, ['get', 'get', `touch ${IDLE}`])
  t.equal((await sessions.peek(id))?.lastSeenAt, clock.now(), 'the touch reached the store')

  // Near the absolute end the ttl shrinks to what is left.
  for (const minute of [9, 18, 27]) {
    clock.set(Date.UTC(2030, 0, 1) + minute * 60_000)
    await sessions.load(id)
  }
  clock.advance(60_000)
  store.ops.length = 0
  await sessions.load(id)
  t.same(store.ops, ['get', `touch ${2 * 60_000}`])
})

t.test('a short idle timeout touches at a tenth of it', async t => {
  const { clock, store, sessions } = setup(100_000, 1_000_000)
  const { id } = await sessions.create(NEW)
  store.ops.length = 0
  clock.advance(9_999)
  await sessions.load(id)
  clock.advance(1)
  await sessions.load(id)
  t.same(store.ops, ['get', 'get', 'touch 100000'])
})

t.test('peek reads without touching or enforcing timeouts', async t => {
  const { clock, store, sessions } = setup()
  const { id, record } = await sessions.create(NEW)
  clock.advance(IDLE + 1)
  store.ops.length = 0
  t.same(await sessions.peek(id), record)
  t.same(store.ops, ['get'])
})

t.test('save replaces the record with a ttl up to the earlier timeout', async t => {
  const { clock, store, sessions } = setup()
  const { id, record } = await sessions.create(NEW)
  clock.advance(25 * 60_000)
  store.ops.length = 0
  // Seen just now: the absolute timeout (5 minutes away) comes before the idle one.
  await sessions.save(id, { ...record, lastSeenAt: clock.now(), accessToken: 'at-2', version: 1 })
  t.same(store.ops, [`set ${5 * 60_000}`])
  store.ops.length = 0
  // Last seen 8 minutes ago: the store forgets it when the idle timeout says, 2 minutes from now.
  await sessions.save(id, { ...record, lastSeenAt: clock.now() - 8 * 60_000, accessToken: 'at-3', version: 2 })
  t.same(store.ops, [`set ${2 * 60_000}`])
  t.equal((await sessions.peek(id))?.accessToken, 'at-3')
})

t.test('end removes the session', async t => {
  const { sessions } = setup()
  const { id } = await sessions.create(NEW)
  await sessions.end(id, 'logout')
  t.equal(await sessions.load(id), undefined)
  t.equal(await sessions.peek(id), undefined)
})

t.test('sessionView shows the earlier timeout and never a token', async t => {
  const { clock, sessions } = setup()
  const { record } = await sessions.create(NEW)
  const view = sessionView(record, IDLE)
  t.same(view, {
    user: NEW.user,
    scope: 'openid',
    expires_at: new Date(clock.now() + IDLE).toISOString(),
    access_token_expires_at: new Date(NEW.expiresAt).toISOString(),
    has_refresh_token: true
  })
  const late: SessionRecord = { ...record, lastSeenAt: record.absoluteExpiresAt - 60_000 }
  t.equal(sessionView(late, IDLE).expires_at, new Date(record.absoluteExpiresAt).toISOString())
  const { refreshToken: _rt, ...withoutRefresh } = record
  t.equal(sessionView(withoutRefresh, IDLE).has_refresh_token, false)
  t.notMatch(JSON.stringify(view), /at-1|rt-1/)
})

t.test('a last activity in the future ends the session and is reported; up to a minute ahead is replica clocks (issue #15)', async t => {
  const clock = createManualClock()
  const store = createMemoryStore({ maxEntries: 100 })
  const reports: string[] = []
  const sessions = createSessions({ store, clock, idleTimeoutMs: IDLE, absoluteTimeoutMs: ABSOLUTE, onImpossibleActivity: reason => { reports.push(reason) } })
  const ahead = await sessions.create(NEW)
  await store.touch(storageKey(ahead.id), clock.now() + 60_000, IDLE)
  t.ok(await sessions.load(ahead.id), 'a minute ahead: believed')
  const future = await sessions.create(NEW)
  await store.touch(storageKey(future.id), clock.now() + 60_001, IDLE)
  t.equal(await sessions.load(future.id), undefined, 'further ahead: ended')
  t.equal(await store.get(storageKey(future.id)), undefined, 'and deleted')
  t.same(reports, ['in the future'])
  const listed = await sessions.create(NEW)
  await store.touch(storageKey(listed.id), clock.now() + 3_600_000, IDLE)
  t.notOk((await sessions.listForUser(NEW.sub)).some(entry => entry.key === storageKey(listed.id)), 'not listed as live either')
  t.same(reports, ['in the future', 'in the future'])
})
