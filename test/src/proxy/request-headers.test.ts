import t from 'tap'
import fc from 'fast-check'
import { HEADER_PATTERN, HOP_BY_HOP_REQUEST_HEADERS, STRIPPED_REQUEST_HEADERS, headerNameMatcher } from '../../../src/proxy/request-headers.js'

const SEED = process.env.FC_SEED === undefined ? 1502 : Number(process.env.FC_SEED)

t.test('the reviewer\'s list and the gateway\'s own forwarded headers are on the default deny-list', async t => {
  const stripped = headerNameMatcher(STRIPPED_REQUEST_HEADERS)
  for (const name of [
    'x-real-ip', 'true-client-ip', 'x-client-ip', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'x-original-url',
    'x-rewrite-url', 'x-http-method-override', 'x-forwarded-user', 'x-auth-request-email',
    'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded', 'x-forwarded-email', 'x-forwarded-access-token',
    'x-amzn-oidc-identity', 'x-ms-client-principal', 'x-ms-client-principal-name', 'x-goog-authenticated-user-email',
    'cf-access-authenticated-user-email', 'x-consumer-username', 'x-envoy-retry-on', 'x-ssl-client-cert', 'x-jwt-claim-sub'
  ]) t.ok(stripped(name), name)
})

t.test('ordinary end-to-end headers are not', async t => {
  const stripped = headerNameMatcher([...HOP_BY_HOP_REQUEST_HEADERS, ...STRIPPED_REQUEST_HEADERS])
  for (const name of ['accept', 'accept-language', 'content-type', 'content-length', 'user-agent', 'x-csrf', 'x-request-id', 'x-custom',
    'x-forwardedfor', 'x-real-ipv6-is-not-a-thing', 'cf-ray', 'x-envoy', 'authorization', 'cookie', 'if-none-match', 'traceparent']) {
    t.notOk(stripped(name), name)
  }
  for (const name of HOP_BY_HOP_REQUEST_HEADERS) t.ok(stripped(name), name)
})

t.test('every default entry is a valid lower-case name or prefix', async t => {
  for (const entry of STRIPPED_REQUEST_HEADERS) t.match(entry, HEADER_PATTERN, entry)
  t.equal(new Set(STRIPPED_REQUEST_HEADERS).size, STRIPPED_REQUEST_HEADERS.length, 'no duplicates')
})

t.test('property: the matcher agrees with a naive check of exact names and prefixes', async t => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
  const entry = fc.tuple(name, fc.boolean()).map(([text, prefix]) => prefix ? `${text}*` : text)
  await fc.assert(fc.property(fc.array(entry, { maxLength: 8 }), fc.array(name, { maxLength: 8 }), (entries, probes) => {
    const matches = headerNameMatcher(entries)
    const naive = (probe: string): boolean => entries.some(e => e.endsWith('*') ? probe.startsWith(e.slice(0, -1)) : probe === e)
    return [...probes, ...entries.map(e => e.replace('*', 'tail'))].every(probe => matches(probe) === naive(probe))
  }), { seed: SEED, numRuns: 500 })
  t.pass('500 cases')
})

t.test('regular-expression characters in a prefix are literal', async t => {
  const matches = headerNameMatcher(["x-a.b|c+*"])
  t.ok(matches('x-a.b|c+d'))
  t.notOk(matches('x-aXb'))
  t.notOk(matches('c'))
})
