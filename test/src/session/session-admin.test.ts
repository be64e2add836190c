/**
 * Session administration without a server (issue #16): a user's sessions listed, summarised, found by handle and
 * ended, over a real memory store and the real session lifecycle (src/session/sessions.ts, session-end.ts).
 */
import { createHmac } from 'node:crypto'
import t from 'tap'
import { deriveKey } from '../../../src/crypto/identifier-hash.js'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { createSessionAdmin, type SessionAdmin } from '../../../src/session/session-admin.js'
import { createSessionEnder } from '../../../src/session/session-end.js'
import { storageKey } from '../../../src/session/session-id.js'
import type { UserSessionEntry } from '../../../src/session/session-store.js'
import { createSessions, type NewSession, type Sessions } from '../../../src/session/sessions.js'
import { isWellFormedHandle } from '../../../src/session/user-index.js'
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js'

const SECRET = 'session-secret-0123456789abcdefghijklmnopqrstuvwxyz'
const MINUTE = 60_000
const ALICE = 'auth0|alice'
const BOB = 'auth0|bob'

interface Setup {
  clock: ManualClock
  sessions: Sessions
  admin: SessionAdmin
  /** Refresh tokens revoked, in order (a token twice would show twice). */
  revoked: string[]
  /** The `reason` of every session_ended event. */
  reasons: unknown[]
}

function setup (): Setup {
  const clock = createManualClock()
  const revoked: string[] = []
  const reasons: unknown[] = []
  const log = {
    info (obj: object) { if ((obj as { event?: string }).event === 'session_ended') reasons.push((obj as { reason?: unknown }).reason) },
    warn () {}
  }
  const ender = createSessionEnder({ log })
  ender.setRevoker(async token => { revoked.push(token) })
  let sessions: Sessions | undefined
  const store = createMemoryStore({ maxEntries: 100, clock, onDrop: (key, record, reason) => { sessions?.dropped(key, record, reason) } })
  sessions = createSessions({ store, clock, idleTimeoutMs: 30 * MINUTE, absoluteTimeoutMs: 60 * MINUTE, ender })
  return { clock, sessions, admin: createSessionAdmin({ sessions, secret: SECRET }), revoked, reasons }
}

let counter = 0
function newSession (sub: string, extra: Partial<NewSession> = {}): NewSession {
  counter++
  return { sub, user: {}, accessToken: `at-${counter}`, refreshToken: `rt-${counter}`, expiresAt: Date.UTC(2031, 0, 1), lifetimeMs: 3_600_000, scope: 'openid', ...extra }
}

async function create (s: Setup, sub: string, extra: Partial<NewSession> = {}): Promise<{ id: string, entry: UserSessionEntry }> {
  const { id, record } = await s.sessions.create(newSession(sub, extra))
  return { id, entry: { key: storageKey(id), record } }
}

t.test('list: the user\'s live sessions, oldest first; the asking session added only when the index lacks it', async t => {
  const s = setup()
  const a1 = await create(s, ALICE)
  s.clock.advance(1_000)
  const a2 = await create(s, ALICE)
  await create(s, BOB)
  t.same((await s.admin.list(ALICE)).map(entry => entry.key), [a1.entry.key, a2.entry.key])
  t.same((await s.admin.list(ALICE, a2.entry)).map(entry => entry.key), [a1.entry.key, a2.entry.key], 'already listed: not twice')
  t.same(await s.admin.list('auth0|nobody'), [])

  // A session without an id_token has no sub: never indexed, it sees only itself.
  const anonymous = await create(s, '')
  t.same(await s.admin.list('', anonymous.entry), [anonymous.entry])

  // Sessions past their idle timeout are not listed.
  s.clock.advance(31 * MINUTE)
  t.same(await s.admin.list(ALICE), [])
})

t.test('summarise: dates, user agent and IP when known, the current flag; never an id, key or token', async t => {
  const s = setup()
  const full = await create(s, ALICE, { userAgent: 'Firefox/140', ip: '192.0.2.7' })
  s.clock.advance(5_000)
  const bare = await create(s, ALICE)
  const now = new Date(s.clock.now()).toISOString()

  t.same(s.admin.summarise(full.entry, full.entry.key), {
    handle: s.admin.handleOf(full.entry.key),
    created_at: new Date(full.entry.record.createdAt).toISOString(),
    last_seen_at: new Date(full.entry.record.lastSeenAt).toISOString(),
    user_agent: 'Firefox/140',
    ip: '192.0.2.7',
    current: true
  })
  const summary = s.admin.summarise(bare.entry, full.entry.key)
  t.same(summary, { handle: s.admin.handleOf(bare.entry.key), created_at: now, last_seen_at: now, current: false })
  t.notOk('user_agent' in summary || 'ip' in summary, 'unknown fields are left out, not empty')
  t.equal(s.admin.summarise(bare.entry).current, false, 'no current key (an operator): never current')

  const text = JSON.stringify([s.admin.summarise(full.entry), summary])
  for (const secret of [full.id, full.entry.key, bare.id, bare.entry.key, 'at-', 'rt-']) t.notOk(text.includes(secret), `no ${secret.slice(0, 3)}…`)
})

t.test('handles: an HMAC of the storage key under a key derived from the secret, never under the secret itself', async t => {
  const s = setup()
  const { id, entry } = await create(s, ALICE)
  const handle = s.admin.handleOf(entry.key)
  t.ok(isWellFormedHandle(handle))
  t.equal(handle, createHmac('sha256', deriveKey(SECRET, 'session-handle v1')).update(entry.key).digest('base64url').slice(0, 22))
  const underRawSecret = (data: string): string => createHmac('sha256', SECRET).update(data).digest('base64url').slice(0, 22)
  t.not(handle, underRawSecret(entry.key))
  t.not(handle, underRawSecret(`bff-session-handle\0${entry.key}`), 'not the handle of earlier versions (cookie-signing key used raw)')
  t.notOk(id.includes(handle) || entry.key.includes(handle))
  t.equal(createSessionAdmin({ sessions: s.sessions, secret: SECRET }).handleOf(entry.key), handle, 'stable for the same secret')
  t.not(createSessionAdmin({ sessions: s.sessions, secret: `${SECRET}2` }).handleOf(entry.key), handle, 'another secret, other handles')
})

t.test('find: the entry a handle names among these; unknown, malformed or another user\'s handle: none', async t => {
  const s = setup()
  const a1 = await create(s, ALICE)
  const a2 = await create(s, ALICE)
  const bob = await create(s, BOB)
  const mine = await s.admin.list(ALICE)
  t.same(s.admin.find(mine, s.admin.handleOf(a2.entry.key)), a2.entry)
  t.same(s.admin.find(mine, s.admin.summarise(a1.entry).handle), a1.entry, 'the handle a summary shows')
  t.equal(s.admin.find(mine, s.admin.handleOf(bob.entry.key)), undefined, 'another user\'s session is not among them')
  t.equal(s.admin.find(mine, 'A'.repeat(22)), undefined, 'well-formed but unknown')
  t.equal(s.admin.find(mine, `${s.admin.handleOf(a1.entry.key)}x`), undefined, 'too long')
  t.equal(s.admin.find(mine, a1.entry.key), undefined, 'a storage key is not a handle')
  t.equal(s.admin.find(mine, a1.id), undefined, 'a session id is not a handle')
  t.equal(s.admin.find([], s.admin.handleOf(a1.entry.key)), undefined)
})

t.test('end: the sessions given end (refresh tokens revoked once, with the reason), the others stay', async t => {
  const s = setup()
  const a1 = await create(s, ALICE)
  const a2 = await create(s, ALICE)
  const a3 = await create(s, ALICE)
  const bob = await create(s, BOB)

  t.equal(await s.admin.end([a1.entry], 'logout_all', { ip: '192.0.2.9' }), 1)
  t.equal(await s.sessions.load(a1.id), undefined, 'ended')
  t.same(s.revoked, [a1.entry.record.refreshToken])
  t.same(s.reasons, ['logout_all'])

  t.equal(await s.admin.end(await s.admin.list(ALICE), 'admin', {}), 2)
  for (const { id } of [a2, a3]) t.equal(await s.sessions.load(id), undefined)
  t.same([...s.revoked].sort(), [a1, a2, a3].map(({ entry }) => entry.record.refreshToken).sort())
  t.same(s.reasons, ['logout_all', 'admin', 'admin'])
  t.ok(await s.sessions.load(bob.id), 'another user\'s session is untouched')

  // Ending an entry already ended (a stale list) revokes nothing again.
  await s.admin.end([a1.entry, a2.entry], 'admin', {})
  t.equal(s.revoked.length, 3, 'each refresh token revoked once')
  t.same(await s.admin.list(ALICE), [])
  t.equal(await s.admin.end([], 'admin', {}), 0)
})
