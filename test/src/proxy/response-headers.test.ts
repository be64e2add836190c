import t from 'tap'
import fc from 'fast-check'
import { isUpstreamCorsHeader, mergeVary, upstreamCookieFilter } from '../../../src/proxy/response-headers.js'
import { HOSTILE_SET_COOKIES } from '../../helpers/upstream.js'

const SEED = process.env.FC_SEED === undefined ? 1503 : Number(process.env.FC_SEED)
const keep = upstreamCookieFilter('__Host-bff-session')

t.test('gateway-owned and nameless cookies are dropped', async t => {
  for (const line of HOSTILE_SET_COOKIES) t.notOk(keep(line), JSON.stringify(line))
  for (const line of ['=x', '=', ';x=1', '', '   ']) t.notOk(keep(line), JSON.stringify(line))
})

t.test('the upstream\'s own cookies pass', async t => {
  for (const line of ['theme=dark; Path=/', 'lang=de', 'a=; Max-Age=0', 'bff-session=x', '__Secure-bff-session=x', 'x=__Host-bff-session=y', 'session=1; Domain=example.com']) {
    t.ok(keep(line), line)
  }
})

t.test('property: a cookie line is kept exactly when its name is non-empty and does not start with the cookie name', async t => {
  const text = fc.string({ unit: fc.constantFrom('a', 'B', '=', ';', ' ', '_', '-', 'H', 'o', 's', 't'), maxLength: 30 })
  await fc.assert(fc.property(fc.option(fc.constantFrom('__Host-bff-session', '__host-BFF-session', '=__Host-bff-session', ' __Host-bff-session')), text, (start, rest) => {
    const line = `${start ?? ''}${rest}`
    const pair = line.split(';', 1)[0] ?? ''
    const name = pair.includes('=') ? pair.slice(0, pair.indexOf('=')).trim() : ''
    return keep(line) === (name !== '' && !name.toLowerCase().startsWith('__host-bff-session'))
  }), { seed: SEED, numRuns: 1000 })
  t.pass('1000 cases')
})

t.test('CORS response headers are the gateway\'s, except Expose-Headers', async t => {
  for (const name of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
    'access-control-allow-headers', 'access-control-max-age', 'access-control-allow-private-network']) t.ok(isUpstreamCorsHeader(name), name)
  for (const name of ['access-control-expose-headers', 'accept-ranges', 'age', 'content-type', 'vary']) t.notOk(isUpstreamCorsHeader(name), name)
})

t.test('Vary: the upstream\'s list keeps Origin', async t => {
  t.equal(mergeVary(undefined, 'Origin'), 'Origin')
  t.equal(mergeVary('', 'Origin'), 'Origin')
  t.equal(mergeVary('Accept-Encoding', 'Origin'), 'Accept-Encoding, Origin')
  t.equal(mergeVary('Accept-Encoding, Cookie', 'Origin'), 'Accept-Encoding, Cookie, Origin')
  t.equal(mergeVary('accept-encoding,origin', 'Origin'), 'accept-encoding,origin', 'already there, any case')
  t.equal(mergeVary('*', 'Origin'), '*', 'varies on everything already')
  t.equal(mergeVary('Accept, *', 'Origin'), 'Accept, *')
  t.equal(mergeVary(['Accept-Encoding', 'Cookie'], 'Origin'), 'Accept-Encoding, Cookie, Origin', 'several Vary lines')
  t.equal(mergeVary(['Accept', 'Origin'], 'Origin'), 'Accept, Origin')
  t.equal(mergeVary([], 'Origin'), 'Origin')
})
