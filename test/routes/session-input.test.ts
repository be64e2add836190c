import t, { type Test } from 'tap'
import type { InjectOptions } from 'fastify'
import { ALICE, buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const CSRF = { 'x-csrf': '1' }
const clock = createManualClock()
const idp = await startTestIdp(t, { clock })
const app = await buildTestApp(t, { env: testEnv(idp), deps: { clock } })
t.beforeEach(() => { idp.clearCalls() })

type Inject = InjectOptions

async function expectError (t: Test, request: Inject, status: number, code: string): Promise<void> {
  const res = await app.inject(request)
  t.equal(res.statusCode, status, `${code}: status`)
  const body = res.json()
  t.equal(body.code, code)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  t.notMatch(res.body, /\bat [\w.<>]+ \(|\.ts:\d+/, 'no stack trace')
  t.equal(res.cookies.length, 0)
}

const post = (payload: unknown, headers: Record<string, string> = {}): Inject => ({ method: 'POST', url: '/session', headers: { ...CSRF, ...headers }, payload: payload as string })

t.test('missing fields: 400 invalid_request', async t => {
  await expectError(t, post({ username: ALICE.username }), 400, 'invalid_request')
  await expectError(t, post({ password: ALICE.password }), 400, 'invalid_request')
  await expectError(t, post({}), 400, 'invalid_request')
})

t.test('wrong-typed fields: 400 invalid_request (no coercion)', async t => {
  await expectError(t, post({ username: 123, password: ALICE.password }), 400, 'invalid_request')
  await expectError(t, post({ username: ALICE.username, password: ['a'] }), 400, 'invalid_request')
  await expectError(t, post({ ...ALICE, realm: { name: 'x' } }), 400, 'invalid_request')
  await expectError(t, post({ username: null, password: true }), 400, 'invalid_request')
  await expectError(t, post(JSON.stringify(['a', 'b']), { 'content-type': 'application/json' }), 400, 'invalid_request')
  await expectError(t, post('"just a string"', { 'content-type': 'application/json' }), 400, 'invalid_request')
})

t.test('unknown fields: 400 invalid_request', async t => {
  await expectError(t, post({ ...ALICE, grant_type: 'client_credentials' }), 400, 'invalid_request')
  await expectError(t, post({ ...ALICE, audience: 'https://evil.example.com' }), 400, 'invalid_request')
})

t.test('empty and over-long strings: 400 invalid_request', async t => {
  await expectError(t, post({ username: '', password: ALICE.password }), 400, 'invalid_request')
  await expectError(t, post({ username: ALICE.username, password: '' }), 400, 'invalid_request')
  await expectError(t, post({ ...ALICE, realm: '' }), 400, 'invalid_request')
  await expectError(t, post({ username: 'u'.repeat(257), password: 'p' }), 400, 'invalid_request')
  await expectError(t, post('username=&password=x', { 'content-type': 'application/x-www-form-urlencoded' }), 400, 'invalid_request')
})

t.test('a body over 8 KB: 413 payload_too_large, JSON or form', async t => {
  await expectError(t, post({ username: ALICE.username, password: 'p'.repeat(9000) }), 413, 'payload_too_large')
  await expectError(t, post(`username=a&password=${'p'.repeat(9000)}`, { 'content-type': 'application/x-www-form-urlencoded' }), 413, 'payload_too_large')
})

t.test('malformed JSON or an empty JSON body: 400 invalid_body', async t => {
  await expectError(t, post('{"username": "alice", ', { 'content-type': 'application/json' }), 400, 'invalid_body')
  await expectError(t, post('', { 'content-type': 'application/json' }), 400, 'invalid_body')
  await expectError(t, post('{"__proto__": {"x": 1}, "username": "a", "password": "b"}', { 'content-type': 'application/json' }), 400, 'invalid_body')
})

t.test('text/plain and other content types: 415 unsupported_media_type', async t => {
  await expectError(t, post(JSON.stringify(ALICE), { 'content-type': 'text/plain' }), 415, 'unsupported_media_type')
  await expectError(t, post('<x/>', { 'content-type': 'application/xml' }), 415, 'unsupported_media_type')
  await expectError(t, post('--b--', { 'content-type': 'multipart/form-data; boundary=b' }), 415, 'unsupported_media_type')
})

t.test('a POST without a body or content type is refused, never a 5xx', async t => {
  const res = await app.inject({ method: 'POST', url: '/session', headers: CSRF })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'invalid_request')
})

t.test('unknown routes and methods: 404 not_found without the query string', async t => {
  const res = await app.inject({ url: '/nope?token=secret-value' })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'not_found')
  t.notMatch(res.body, /secret-value/)
  await expectError(t, { method: 'PUT', url: '/session', headers: CSRF }, 404, 'not_found')
  await expectError(t, { method: 'GET', url: '/session/extra' }, 404, 'not_found')
})

t.test('none of the bad requests reached the IdP', async t => {
  await app.inject(post({ username: '', password: '' }))
  await app.inject(post('nope', { 'content-type': 'text/plain' }))
  t.equal(idp.calls.length, 0)
})
