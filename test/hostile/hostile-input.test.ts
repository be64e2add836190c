/**
 * Hostile input (issue #10): seeded property-based tests (fast-check) over login and MFA bodies, the cookie header,
 * other headers, paths, methods and content types, through app.inject against a gateway with the local IdP
 * in-process (so valid-looking logins reach a real IdP). Each request must get a clear 4xx in the one error shape
 * `{ statusCode, code, error, message }` with a code from ERROR_CATALOG, never a 5xx; at the end /healthz answers 200,
 * a session opened before the storm still works and a real login succeeds. Raw-socket cases (CRLF, oversize,
 * repeated Authorization, bad methods) are in hostile-socket.test.ts.
 *
 * Every property prints its seed (`# seed …`); replay one with FC_SEED=<seed> (and FC_RUNS to scale the run count).
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { closedOrigin } from '../helpers/upstream.js'
import { errorShapeProblem } from '../faults/assert.js'
import { MFA_USER } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }
const RUN_SCALE = Number(process.env.FC_RUNS ?? '1')

const idp = await startTestIdp(t)
const app = await buildTestApp(t, {
  env: testEnv(idp, {
    UPSTREAMS: `/api=${await closedOrigin()}`,
    ALLOW_HEADER_SESSIONS: 'on',
    LOGIN_RATE_LIMIT_IP: 'off',
    LOGIN_RATE_LIMIT_IP_USER: 'off',
    LOGIN_RATE_LIMIT_USER: 'off',
    LOGIN_RATE_LIMIT_MFA: 'off'
  })
})
const before = await login(app)

let total = 0

/** Runs a seeded property; every case's answer must pass `expect` (a problem string, or undefined when fine). */
async function property<T> (t: Test, name: string, seed: number, numRuns: number, arb: fc.Arbitrary<T>, request: (value: T) => InjectOptions, expect: (res: LightMyRequestResponse, options: InjectOptions) => string | undefined = clear4xx): Promise<void> {
  const runs = Math.max(1, Math.round(numRuns * RUN_SCALE))
  const usedSeed = process.env.FC_SEED === undefined ? seed : Number(process.env.FC_SEED)
  t.comment(`${name}: seed ${usedSeed}, ${runs} runs`)
  await fc.assert(fc.asyncProperty(arb, async value => {
    const options = request(value)
    const res = await app.inject(options)
    total++
    const problem = expect(res, options)
    if (problem !== undefined) throw new Error(`${options.method ?? 'GET'} ${String(options.url)} → ${res.statusCode}: ${problem}\n${res.body.slice(0, 300)}`)
  }), { seed: usedSeed, numRuns: runs, endOnFailure: true })
  t.pass(`${name}: ${runs} cases, each a clear 4xx`)
}

/** A 4xx in the error shape with a documented code. */
function clear4xx (res: LightMyRequestResponse): string | undefined {
  if (res.statusCode < 400 || res.statusCode >= 500) return `status ${res.statusCode}, expected a 4xx`
  return errorShapeProblem(res)
}

/** Never a 5xx; any error is in the shape. (For requests that may legitimately hit a public route.) */
function never5xx (res: LightMyRequestResponse): string | undefined {
  if (res.statusCode >= 500) return `status ${res.statusCode}`
  return res.statusCode >= 400 ? errorShapeProblem(res) : undefined
}

/** encodeURIComponent, except that a lone surrogate is kept as a broken %-escape instead of throwing. */
function enc (value: string): string {
  try { return encodeURIComponent(value) } catch { return value.replace(/[\uD800-\uDFFF]/g, '%ED%A0') }
}

// ---- generators --------------------------------------------------------------------------------------------------

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__']
const weirdString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '\uFEFF', '\u202E', '\uD800', 'admin\u0000', '../../etc/passwd', '${7*7}', '{{7*7}}', '<script>', "' OR 1=1 --", 'alice@example.com\r\nX-Injected: 1'),
  fc.string({ minLength: 257, maxLength: 1100 }),
  fc.nat({ max: 12_000 }).map(n => 'p'.repeat(n))
)
const anyValue = fc.oneof(weirdString, fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.boolean(), fc.double(), fc.array(weirdString, { maxLength: 3 }))
/** A login-shaped object: fields of any type, maybe missing, maybe extra (prototype keys included). */
const loginObject = fc.record({
  username: anyValue,
  password: anyValue,
  realm: anyValue,
  session_transport: fc.oneof(fc.constantFrom('cookie', 'header', 'HEADER', ''), anyValue),
  extra: fc.option(fc.tuple(fc.oneof(fc.constantFrom(...PROTO_KEYS), fc.string()), anyValue))
}, { requiredKeys: [] }).map(({ extra, ...fields }) => {
  const body: Record<string, unknown> = { ...fields }
  if (extra !== null && extra !== undefined) Object.defineProperty(body, extra[0], { value: extra[1], enumerable: true, configurable: true, writable: true })
  return body
})
/** Any JSON text: valid values, login-shaped objects, prototype-pollution payloads, broken JSON. */
const jsonText = fc.oneof(
  fc.jsonValue().map(v => JSON.stringify(v)),
  loginObject.map(v => JSON.stringify(v)),
  fc.tuple(fc.constantFrom(...PROTO_KEYS), anyValue).map(([key, value]) => `{"${key}":${JSON.stringify(value) ?? 'null'},"username":"mallory@example.com","password":"mallory-password"}`),
  fc.constantFrom('{"constructor":{"prototype":{"isAdmin":true}},"username":"m","password":"p"}', '{"username":"a","username":"b","password":"c"}'),
  fc.string().map(s => `{"username":${s}`),
  fc.string({ unit: 'binary', maxLength: 200 })
)
const formText = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom('username', 'password', 'realm', 'session_transport', ...PROTO_KEYS), fc.string()), weirdString, { maxKeys: 5 }).map(d => new URLSearchParams(d).toString()),
  fc.tuple(weirdString, weirdString).map(([a, b]) => `username=${enc(a)}&username=${enc(b)}&password=x`),
  fc.constantFrom('username[]=a&password=b', 'username[a]=1&password=2', '__proto__[admin]=1&username=a&password=b', '%zz=1&password=%', 'username=a&password=b&password=c'),
  fc.string({ unit: 'binary', maxLength: 300 })
)
const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=latin1', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/vnd.api+json', 'application/jsonp', '*/*', 'json', ';', ''),
  fc.stringMatching(/^[a-z]{1,10}\/[a-z0-9.+-]{1,20}(; ?[a-z]+=[a-z0-9-]{1,10})?$/)
)

// ---- properties ----------------------------------------------------------------------------------------------------

t.test('login bodies: any JSON value, wrong types, huge and unicode strings, prototype keys: a clear 4xx', async t => {
  await property(t, 'POST /session JSON', 1001, 700, jsonText,
    body => ({ method: 'POST', url: '/session', headers: { ...CSRF, 'content-type': 'application/json' }, payload: body }))
})

t.test('login bodies, form-encoded: repeated and bracketed keys, broken encoding: a clear 4xx', async t => {
  await property(t, 'POST /session form', 1002, 400, formText,
    body => ({ method: 'POST', url: '/session', headers: { ...CSRF, 'content-type': 'application/x-www-form-urlencoded' }, payload: body }))
})

t.test('login content types and methods: a clear 4xx', async t => {
  await property(t, 'POST /session content types', 1003, 300, fc.tuple(contentType, fc.oneof(jsonText, formText)),
    ([type, body]) => ({ method: 'POST', url: '/session', headers: { ...CSRF, 'content-type': type }, payload: body }))
  await property(t, 'methods on /session and /session/mfa', 1004, 200,
    fc.tuple(fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'QUERY'), fc.constantFrom('/session', '/session/mfa', '/session/mfa/challenge', '/healthz', '/readyz', '/metrics'), fc.boolean()),
    ([method, url, csrf]) => ({ method: method as InjectOptions['method'], url, headers: csrf ? CSRF : {} }))
})

t.test('MFA bodies, with and without a pending login: a clear 4xx', async t => {
  const begun = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: MFA_USER })
  t.equal(begun.statusCode, 401)
  t.equal(begun.json().code, 'mfa_required')
  const pending = begun.cookies.find(c => c.name === `${COOKIE_NAME}-mfa`)
  t.ok(pending, 'a pending-login cookie')
  const pendingCookies = { [`${COOKIE_NAME}-mfa`]: pending?.value ?? '' }
  const mfaBody = fc.oneof(
    jsonText,
    fc.record({ otp: anyValue, binding_code: anyValue, recovery_code: anyValue, authenticator_id: anyValue }, { requiredKeys: [] }).map(v => JSON.stringify(v)),
    fc.constantFrom('{"otp":"000000"}', '{"otp":"0000000000000000000000000000000000"}', '{"authenticator_id":"totp|dev_mfa0000000000000001"}', '{"authenticator_id":"../../users"}', '{"recovery_code":"AAAA-BBBB"}')
  )
  await property(t, 'POST /session/mfa*', 1005, 500,
    fc.tuple(fc.constantFrom('/session/mfa', '/session/mfa/challenge'), mfaBody, fc.boolean(), fc.constantFrom('application/json', 'application/x-www-form-urlencoded')),
    ([url, body, withPending, type]) => ({ method: 'POST', url, headers: { ...CSRF, 'content-type': type }, payload: body, ...(withPending ? { cookies: pendingCookies } : {}) }),
    // A well-formed challenge request on the live pending login is answered 200 (it is a valid request).
    res => res.statusCode === 200 && res.json().challenge !== undefined ? undefined : clear4xx(res))
})

t.test('cookie headers: tampered, truncated, oversize, repeated, wrongly encoded: no session, a clear 4xx', async t => {
  const real = before.value
  const cookieHeader = fc.oneof(
    fc.nat({ max: real.length - 1 }).map(n => `${COOKIE_NAME}=${real.slice(0, n)}`),
    fc.tuple(fc.nat({ max: real.length - 1 }), fc.constantFrom('A', '_', '-', '.', '%', '=')).map(([i, c]) => `${COOKIE_NAME}=${real.slice(0, i)}${c === real[i] ? 'B' : c}${real.slice(i + 1)}`),
    fc.integer({ min: 1, max: 40_000 }).map(n => `${COOKIE_NAME}=${real}${'x'.repeat(n)}`),
    fc.constantFrom(`${COOKIE_NAME}=garbage; ${COOKIE_NAME}=${real.slice(1)}`, `${COOKIE_NAME}=%E0%A4%A; x=1`, `${COOKIE_NAME}="${real.slice(0, -1)}"`, `${COOKIE_NAME}=${encodeURIComponent(real)}%`, `${COOKIE_NAME}`, `=${real}`, ';;;;', `${COOKIE_NAME}=${real.split('.')[0] ?? ''}`, `${COOKIE_NAME}=${real.split('.')[0] ?? ''}.`),
    fc.string({ unit: 'binary', maxLength: 300 }).map(s => `${COOKIE_NAME}=${enc(s)}`),
    fc.array(fc.string({ maxLength: 60 }), { maxLength: 20 }).map(parts => parts.map((p, i) => `${i % 2 === 0 ? COOKIE_NAME : `${COOKIE_NAME}-mfa`}=${p.replace(/[;\r\n]/g, '')}`).join('; '))
  )
  const target = fc.constantFrom('GET /session', 'GET /api/orders', 'POST /session/mfa', 'POST /api/orders')
  await property(t, 'cookies', 1006, 700, fc.tuple(cookieHeader, target),
    ([cookie, what]) => {
      const [method = 'GET', url = '/'] = what.split(' ')
      return { method: method as InjectOptions['method'], url, headers: { ...CSRF, cookie }, ...(method === 'POST' && url.startsWith('/session') ? { payload: { otp: '123456' } } : {}) }
    },
    res => {
      const problem = clear4xx(res)
      if (problem !== undefined) return problem
      const code = String(res.json().code)
      return code === 'no_session' || code === 'mfa_expired' ? undefined : `code ${code}, expected no_session or mfa_expired`
    })
  t.equal((await app.inject({ url: '/session', cookies: before.cookies })).statusCode, 200, 'the real session is untouched')
})

t.test('other headers: oversize, odd values, repeated Authorization, forged Session handles: a clear 4xx', async t => {
  const header = fc.oneof(
    fc.tuple(fc.constantFrom('authorization', 'origin', 'x-csrf', 'content-type', 'x-forwarded-for', 'x-forwarded-host', 'host', 'accept', 'x-request-id', 'if-none-match', 'range', 'forwarded'), weirdString),
    fc.tuple(fc.constant('authorization'), fc.oneof(fc.constantFrom('Session', 'Session ', 'session x', 'Session ..', `Session ${before.value.slice(0, -2)}`, `Session ${before.value}x`, 'Bearer x', 'Basic Og==', `Session ${'a'.repeat(600)}`), fc.string().map(s => `Session ${s}`))),
    fc.tuple(fc.stringMatching(/^x-[a-z0-9-]{1,30}$/), fc.nat({ max: 100_000 }).map(n => 'v'.repeat(n)))
  ).map(([name, value]) => [name, value.replace(/[\r\n\u0000]/g, ' ').replace(/[^\t\u0020-\u007e\u0080-\u00ff]/g, '?')] as const)
  await property(t, 'headers', 1007, 400, fc.tuple(fc.array(header, { minLength: 1, maxLength: 4 }), fc.constantFrom('/session', '/api/orders')),
    ([headers, url]) => ({ url, headers: Object.fromEntries(headers) }))
  await property(t, 'repeated Authorization (as inject passes it: an array)', 1008, 200,
    fc.array(fc.oneof(fc.constant(`Session ${before.value}`), fc.constantFrom('Session garbage', 'Bearer abc', `Session ${before.value.slice(1)}`)), { minLength: 2, maxLength: 4 }).filter(list => list[0] !== `Session ${before.value}`),
    // inject passes an array as repeated header lines; its header type only knows strings.
    list => ({ url: '/session', headers: { authorization: list as unknown as string } }),
    res => {
      const problem = clear4xx(res)
      return problem ?? (res.json().code === 'no_session' ? undefined : `code ${String(res.json().code)}`)
    })
})

t.test('paths: dot segments, encoded slashes and dots, NUL, broken escapes, overlong: never a 5xx, errors in the shape', async t => {
  const segment = fc.oneof(
    fc.constantFrom('..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2F', '%2f', '%5c', '\\', '%00', '%zz', '%', '%%32%65', '%c0%ae', '%ff', '', 'session', 'api', 'healthz', 'mfa', 'orders', '~', ';x=1', '*'),
    fc.string({ maxLength: 10 }).map(enc),
    fc.nat({ max: 3000 }).map(n => 'a'.repeat(n))
  )
  const path = fc.tuple(fc.constantFrom('', '/api', '/session', '/api/orders'), fc.array(segment, { minLength: 1, maxLength: 6 }), fc.option(fc.constantFrom('?a=%zz', '?token=x&token=y', '#frag', '?' + 'q'.repeat(5000))))
    // inject parses its URL with WHATWG URL, which reads a leading `//` or `/\\` as a host: those go over a raw
    // socket (hostile-socket.test.ts).
    .map(([prefix, parts, query]) => `${prefix}/${parts.join('/')}${query ?? ''}`.replace(/^\/[/\\]/, '/x/'))
  let fourXx = 0
  await property(t, 'paths', 1009, 700, fc.tuple(path, fc.constantFrom('GET', 'POST', 'DELETE', 'HEAD')),
    ([url, method]) => ({ method: method as InjectOptions['method'], url, headers: CSRF }),
    (res, options) => {
      if (res.statusCode >= 400 && res.statusCode < 500) fourXx++
      // HEAD answers carry no body to check.
      if (res.statusCode >= 400 && options.method === 'HEAD') return res.statusCode >= 500 ? `status ${res.statusCode}` : undefined
      return never5xx(res)
    })
  t.ok(fourXx > 600, `almost all hostile paths are refused with a 4xx (${fourXx})`)
  const overlong = await app.inject({ url: `/api/${'x'.repeat(200_000)}` })
  t.equal(overlong.statusCode, 401, 'a 200 KB path without a session: 401 no_session')
})

t.test('after thousands of hostile requests the process is fine: /healthz 200, the old session works, a real login works', async t => {
  t.ok(total > 3000, `${total} hostile requests were sent`)
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200)
  t.equal((await app.inject({ url: '/session', cookies: before.cookies })).statusCode, 200)
  const fresh = await login(app, ALICE)
  t.equal(fresh.res.statusCode, 200)
  t.equal((await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies: fresh.cookies })).statusCode, 204)
})
