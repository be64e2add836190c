/**
 * Hostile headers across the proxy (issue #15): seeded property-based tests (fast-check) against a gateway with
 * PUBLIC_ORIGIN and a recording upstream that is itself hostile (it sets whatever Set-Cookie, CORS and Vary headers the
 * test asks for). A hostile client: forged Host values, identity and routing headers, traversal paths. A hostile
 * upstream: cookies that would pass for the gateway's, its own CORS answer, a Vary without Origin.
 *
 * Every property prints its seed (`# seed …`); replay one with FC_SEED=<seed> (and FC_RUNS to scale the run count).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { STRIPPED_REQUEST_HEADERS } from '../../src/proxy/request-headers.js'
import { COOKIE_NAME, buildTestApp, startTestIdp, testEnv } from '../helpers/gateway.js'
import { errorShapeProblem } from '../faults/assert.js'

const RUN_SCALE = Number(process.env.FC_RUNS ?? '1')
const HOST = 'gw.example.com'
const PUBLIC = `https://${HOST}`
const LISTED = 'https://app.example.com'

/** The last request the upstream saw; it answers with the headers named in `x-test-answer` (base64url JSON). */
const seen: Array<{ url: string, headers: IncomingHttpHeaders }> = []
const upstream = createServer((req, res) => {
  seen.push({ url: req.url ?? '', headers: req.headers })
  const wanted = req.headers['x-test-answer']
  const answer = typeof wanted === 'string' ? JSON.parse(Buffer.from(wanted, 'base64url').toString()) as Record<string, string | string[]> : {}
  for (const [name, value] of Object.entries(answer)) res.setHeader(name, value)
  res.setHeader('content-type', 'application/json')
  res.end('{}')
})
await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
t.teardown(async () => { await new Promise(resolve => upstream.close(resolve)) })
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`

const idp = await startTestIdp(t)
const app = await buildTestApp(t, {
  env: testEnv(idp, { UPSTREAMS: `/api/billing=${upstreamUrl}/v1,/api=${upstreamUrl}`, PUBLIC_ORIGIN: PUBLIC, ALLOWED_ORIGINS: LISTED, LOGIN_RATE_LIMIT_IP: 'off' })
})
const login = await app.inject({ method: 'POST', url: '/session', headers: { host: HOST, 'x-csrf': '1' }, payload: { username: 'alice@example.com', password: 'alice-password-1' } })
const session = login.cookies.find(c => c.name === COOKIE_NAME)?.value ?? ''
if (session === '') throw new Error(`login failed: ${login.statusCode}`)
const cookies = { [COOKIE_NAME]: session }

type Answer = Pick<LightMyRequestResponse, 'statusCode' | 'headers' | 'body' | 'json'>

/**
 * Over a real socket, the path exactly as written: app.inject parses its URL with WHATWG URL, which resolves `%2e.`
 * and friends before the gateway sees them.
 */
let port: number | undefined
async function overSocket (options: InjectOptions): Promise<Answer> {
  if (port === undefined) {
    await app.listen({ host: '127.0.0.1', port: 0 })
    port = (app.server.address() as AddressInfo).port
  }
  const cookie = Object.entries(options.cookies ?? {}).map(([name, value]) => `${name}=${value}`).join('; ')
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: String(options.url), headers: { ...(options.headers as Record<string, string>), cookie }, setHost: false }, res => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }) })
    })
    req.on('error', reject)
    req.end()
  })
}

async function property<T> (t: Test, name: string, seed: number, numRuns: number, arb: fc.Arbitrary<T>, request: (value: T) => InjectOptions, expect: (res: Answer, value: T, forwarded: boolean) => string | undefined, send: (options: InjectOptions) => Promise<Answer> = async options => await app.inject(options)): Promise<void> {
  const runs = Math.max(1, Math.round(numRuns * RUN_SCALE))
  const usedSeed = process.env.FC_SEED === undefined ? seed : Number(process.env.FC_SEED)
  t.comment(`${name}: seed ${usedSeed}, ${runs} runs`)
  await fc.assert(fc.asyncProperty(arb, async value => {
    const before = seen.length
    const options = request(value)
    const res = await send(options)
    if (res.statusCode >= 500) throw new Error(`${String(options.url)} → ${res.statusCode}: ${res.body.slice(0, 300)}`)
    const problem = expect(res, value, seen.length > before)
    if (problem !== undefined) throw new Error(`${String(options.url)} → ${res.statusCode}: ${problem}\n${JSON.stringify(value).slice(0, 400)}`)
  }), { seed: usedSeed, numRuns: runs, endOnFailure: true })
  t.pass(`${name}: ${runs} cases`)
}

t.test('Host: anything but the public host (any case, default port) is 421 in the error shape, and nothing is forwarded', async t => {
  const caseOf = (text: string, mask: boolean[]): string => [...text].map((c, i) => mask[i % mask.length] === true ? c.toUpperCase() : c).join('')
  const host = fc.oneof(
    fc.tuple(fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }), fc.constantFrom('', ':443')).map(([mask, port]) => caseOf(HOST, mask) + port),
    fc.constantFrom(`${HOST}.`, `${HOST}:80`, `${HOST}:8443`, `x.${HOST}`, `${HOST}.evil.example`, `evil.example`, `${HOST}@evil.example`, `evil.example#${HOST}`, `[::1]`, '127.0.0.1', '', ' ', `${HOST} `),
    fc.stringMatching(/^[a-z0-9.:[\]@-]{1,40}$/)
  )
  await property(t, 'Host', 1501, 400, fc.tuple(host, fc.constantFrom('/api/x', '/session', '/nope')), ([value, url]) => ({ url, headers: { host: value }, cookies }), (res, [value], forwarded) => {
    const isPublic = value.toLowerCase() === HOST || value.toLowerCase() === `${HOST}:443`
    if (isPublic) return res.statusCode === 421 ? 'the public host was refused' : undefined
    if (forwarded) return `forwarded for Host ${JSON.stringify(value)}`
    if (res.statusCode !== 421 && res.statusCode !== 400) return `status ${res.statusCode} for Host ${JSON.stringify(value)}`
    return errorShapeProblem(res)
  })
})

t.test('identity and routing headers, any value, any mix: none reaches the upstream; X-Forwarded-* are the gateway\'s', async t => {
  const names = STRIPPED_REQUEST_HEADERS.map(entry => entry.endsWith('*') ? fc.stringMatching(/^[a-z0-9-]{1,12}$/).map(tail => `${entry.slice(0, -1)}${tail}`) : fc.constant(entry))
  const value = fc.oneof(fc.constantFrom('admin', '127.0.0.1', '/admin', 'DELETE', 'https', 'evil.example', PUBLIC, ''), fc.string({ maxLength: 40 }).map(s => s.replace(/[^\x20-\x7e]/g, '')))
  const spoofed = fc.array(fc.tuple(fc.oneof(...names), value), { minLength: 1, maxLength: 12 })
  await property(t, 'deny-list', 1502, 400, spoofed, list => ({ url: '/api/x', headers: { host: HOST, ...Object.fromEntries(list) }, cookies }), (res, list, forwarded) => {
    if (res.statusCode !== 200 || !forwarded) return `status ${res.statusCode}, forwarded ${String(forwarded)}`
    const received = seen.at(-1)?.headers ?? {}
    for (const [name] of list) {
      if (name === 'x-forwarded-host' || name === 'x-forwarded-proto' || name === 'x-forwarded-for') continue
      if (received[name] !== undefined) return `${name} reached the upstream`
    }
    if (received['x-forwarded-host'] !== HOST || received['x-forwarded-proto'] !== 'https' || received['x-forwarded-for'] !== '127.0.0.1') {
      return `forwarded headers ${JSON.stringify([received['x-forwarded-host'], received['x-forwarded-proto'], received['x-forwarded-for']])}`
    }
    return undefined
  })
})

t.test('traversal: dots and slashes encoded once or twice, anywhere in the path: 400 invalid_request, nothing forwarded', async t => {
  const pct = (byte: number, upper: boolean): string => `%${byte.toString(16).padStart(2, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`
  /** `.` `/` or `\` written raw (a dot only), encoded once, or encoded twice. */
  const char = (c: '.' | '/' | '\\'): fc.Arbitrary<string> => fc.tuple(fc.integer({ min: c === '.' ? 0 : 1, max: 2 }), fc.boolean()).map(([times, upper]) =>
    times === 0 ? c : times === 1 ? pct(c.charCodeAt(0), upper) : `%25${pct(c.charCodeAt(0), upper).slice(1)}`)
  const bad = fc.oneof(
    fc.tuple(char('.'), char('.')).map(([a, b]) => a + b),
    char('.'),
    fc.tuple(fc.stringMatching(/^[a-z]{0,4}$/), fc.oneof(char('/'), char('\\')), fc.stringMatching(/^[a-z]{0,4}$/)).map(parts => parts.join('')),
    fc.tuple(char('.'), char('.'), fc.stringMatching(/^[a-z=]{0,4}$/)).map(([a, b, param]) => `${a}${b};${param}`)
  )
  const safe = fc.stringMatching(/^[a-z0-9]{1,6}$/)
  await property(t, 'traversal', 1503, 400,
    fc.tuple(fc.constantFrom('/api', '/api/billing'), fc.array(safe, { maxLength: 3 }), bad, fc.array(safe, { maxLength: 3 })),
    ([prefix, before, segment, after]) => ({ url: `${prefix}/${[...before, segment, ...after].join('/')}`, headers: { host: HOST }, cookies }),
    (res, _value, forwarded) => {
      if (forwarded) return 'forwarded'
      if (res.statusCode !== 400 || res.json().code !== 'invalid_request') return `status ${res.statusCode}`
      return errorShapeProblem(res)
    }, overSocket)
})

t.test('a hostile upstream: no cookie a browser would take for the gateway\'s, no CORS answer of its own, Vary keeps Origin', async t => {
  const piece = fc.constantFrom('__Host-bff-session', '__host-bff-session', '__HOST-BFF-SESSION-MFA', COOKIE_NAME, `${COOKIE_NAME}-mfa`, 'theme', 'bff-session', '=', ';', ' ', '\t', 'x', 'Path=/', 'Secure')
  const line = fc.array(piece, { minLength: 1, maxLength: 6 }).map(parts => parts.join(''))
  const cors = fc.dictionary(fc.constantFrom('access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age', 'access-control-allow-private-network'), fc.constantFrom('*', 'true', 'https://evil.example', 'GET'))
  // An array is sent as several header lines (the HTTP client then hands them over as an array).
  const vary = fc.option(fc.constantFrom<string | string[]>('Accept-Encoding', 'accept, cookie', 'Authorization', '*', 'origin', '', ['Accept', 'Cookie'], ['Accept', '*']))
  const connection = fc.option(fc.constantFrom<string | string[]>('keep-alive', ['keep-alive', 'x-hop'], 'close'))
  const setCookies = fc.oneof(line, fc.array(line, { minLength: 1, maxLength: 6 }))
  await property(t, 'upstream answers', 1504, 400, fc.tuple(setCookies, cors, vary, fc.constantFrom(undefined, LISTED, PUBLIC), connection),
    ([setCookie, corsHeaders, varyHeader, origin, connectionHeader]) => {
      const answer = { 'set-cookie': setCookie, ...corsHeaders, ...(varyHeader === null ? {} : { vary: varyHeader }), ...(connectionHeader === null ? {} : { connection: connectionHeader, 'x-hop': 'secret' }) }
      return { url: '/api/x', headers: { host: HOST, 'x-test-answer': Buffer.from(JSON.stringify(answer)).toString('base64url'), ...(origin === undefined ? {} : { origin }) }, cookies }
    },
    (res, [, , varyHeader, origin, connectionHeader]) => {
      if (res.statusCode !== 200) return `status ${res.statusCode}`
      const lines = res.headers['set-cookie'] === undefined ? [] : ([] as string[]).concat(res.headers['set-cookie'])
      for (const cookie of lines) {
        // As a browser reads it (RFC 6265bis 5.6): the pair before the first `;`, the name before its first `=`.
        const pair = cookie.split(';', 1)[0] ?? ''
        const name = pair.includes('=') ? pair.slice(0, pair.indexOf('=')).trim() : ''
        if (name === '' || name.toLowerCase().startsWith(COOKIE_NAME.toLowerCase())) return `the client got ${JSON.stringify(cookie)}`
      }
      const allowOrigin = res.headers['access-control-allow-origin']
      if (allowOrigin !== (origin === LISTED ? LISTED : undefined)) return `Access-Control-Allow-Origin ${String(allowOrigin)}`
      for (const name of ['access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age', 'access-control-allow-private-network']) {
        if (res.headers[name] !== undefined) return `${name} passed`
      }
      if (res.headers['x-hop'] !== undefined && connectionHeader !== null && String(connectionHeader).includes('x-hop')) return 'a header named in Connection passed'
      const fields = String(res.headers.vary ?? '').split(',').map(field => field.trim().toLowerCase())
      if (!fields.includes('origin') && !fields.includes('*')) return `Vary ${String(res.headers.vary)} (upstream ${String(varyHeader)})`
      return undefined
    })
})
