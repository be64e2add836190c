/**
 * "The session id is not usable as a key in the store" for the memory store (Redis: test/replicas/replicas.test.ts):
 * every key the gateway writes is a SHA-256 of an id, never the id from a cookie, and looking the cookie's id up as
 * a key finds nothing. Also the leak capture itself (test/helpers/leak-capture.ts) finds what it is meant to find.
 */
import t from 'tap'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { storageKey } from '../../src/session/session-id.js'
import type { SessionStore } from '../../src/session/session-store.js'
import { COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { captured, findLeaks } from '../helpers/leak-capture.js'

t.test('memory store: keys are hashes of the session and pending-login ids, the cookie id opens nothing', async t => {
  const inner = createMemoryStore({ maxEntries: 1000 })
  const keys: string[] = []
  const store: SessionStore = { ...inner, set: async (key, record, ttl) => { keys.push(key); await inner.set(key, record, ttl) } }
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, { env: testEnv(idp), deps: { sessionStore: store } })

  const { value } = await login(app)
  const id = value.slice(0, value.lastIndexOf('.'))
  const mfa = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { username: 'mfa@example.com', password: 'mfa-password-1' } })
  const pending = mfa.cookies.find(c => c.name === `${COOKIE_NAME}-mfa`)?.value ?? ''
  const pendingId = pending.slice(0, pending.lastIndexOf('.'))

  t.ok(keys.length >= 2, 'the session and the pending login were stored')
  t.ok(keys.some(key => key === storageKey(id) || key.endsWith(storageKey(id))), 'the session is stored under the hash of its id')
  for (const key of keys) {
    t.notOk(key.includes(id), 'no key contains the session id')
    if (pendingId !== '') t.notOk(key.includes(pendingId), 'no key contains the pending-login id')
  }
  t.equal(await inner.get(id), undefined, 'the cookie id is not a store key')
  t.equal(await inner.get(value), undefined, 'nor is the signed cookie value')
})

t.test('leak capture: finds raw, URL-encoded and JSON-escaped secrets, ignores the rest, and is recording', async t => {
  const secret = 'basic secret:with/special+chars&=%-0123'
  t.same([...findLeaks([[secret, 'client secret']], `x ${encodeURIComponent(secret)} y`)], [['client secret', 1]])
  t.same([...findLeaks([[secret, 'client secret']], JSON.stringify({ a: secret }))], [['client secret', 1]])
  t.same([...findLeaks([['tok-0123456789abcdef', 'access token']], 'tok-0123456789abcde! nothing')], [])
  const seen = captured()
  t.ok(seen.secrets > 10, 'secrets were recorded (demo passwords, client secrets, tokens, session ids)')
  t.ok(seen.sources.includes('gateway log') && seen.sources.includes('gateway response'), 'logs and responses were captured')
})
