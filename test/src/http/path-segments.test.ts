import t from 'tap'
import fc from 'fast-check'
import { isUnsafePath, isUnsafeSegment } from '../../../src/http/path-segments.js'

const SEED = process.env.FC_SEED === undefined ? 1501 : Number(process.env.FC_SEED)

t.test('dot segments, raw, encoded once and encoded twice, are unsafe', async t => {
  for (const path of [
    '/api/billing/../secret', '/api/billing/./x', '/api/..', '/api/billing/..',
    '/api/billing/%2e%2e/secret', '/api/billing/%2E%2E/secret', '/api/billing/.%2e/secret', '/api/billing/%2e./secret', '/api/billing/%2e/x',
    '/api/billing/%252e%252e/secret', '/api/billing/%252E%252E/secret', '/api/billing/%252e./secret', '/api/billing/.%252e/secret', '/api/billing/%252e/x',
    '/api/billing/..;/secret', '/api/billing/..;jsessionid=1/secret', '/api/billing/%2e%2e;x/secret', '/api/billing/%252e%252e%253bx/secret'
  ]) t.ok(isUnsafePath(path), path)
})

t.test('encoded slashes and backslashes, once or twice, and raw backslashes are unsafe', async t => {
  for (const path of [
    '/api/billing/..%2f..%2fadmin', '/api/billing/a%2fb', '/api/billing/a%2Fb', '/api/billing/a%5cb', '/api/billing/a%5Cb',
    '/api/billing/a%252fb', '/api/billing/a%255cb', '/api/billing/x\\..\\..\\secret', '/api/billing/a\\b'
  ]) t.ok(isUnsafePath(path), path)
})

t.test('undecodable escapes (overlong dots), NUL and lookalike dots are unsafe', async t => {
  for (const path of [
    '/api/billing/%c0%ae%c0%ae/secret', '/api/billing/%25c0%25ae%25c0%25ae/secret', '/api/billing/%e0%80%ae/x',
    '/api/billing/a%00b', '/api/billing/a%2500b', '/api/billing/%ef%bc%8e%ef%bc%8e/secret', '/api/billing/a%ef%bc%bcb',
    '/api/billing/%ef%bc%8f', '/api/billing/%25ef%25bc%258e%25ef%25bc%258e',
    '/api/billing/%2%65%2%65/secret', '/api/billing/%%32%65%%32%65/secret', '/api/billing/a%%32fb'
  ]) t.ok(isUnsafePath(path), path)
})

t.test('ordinary paths are safe, and the query string is not looked at', async t => {
  for (const path of [
    '/api/orders/7', '/api/files/a.pdf', '/api/x/...', '/api/x/.well-known/openid-configuration', '/api/x/a..b', '/api/x/..a',
    '/api/x/.hidden', '/api/x/100%25', '/api/x/a%20b', '/api/x/%2525', '/api/x/caf%C3%A9', '/api/x/café', '/api/x/%E2%82%AC',
    '/api/x/a;b=1', '/api/', '/api//x', '/api/x?path=../..%2f%5c&a=%252e%252e', '/api/x?\\..', '/api/x/%25zz'
  ]) t.notOk(isUnsafePath(path), path)
})

t.test('isUnsafeSegment agrees with isUnsafePath on one segment', async t => {
  t.ok(isUnsafeSegment('%252e%252e'))
  t.notOk(isUnsafeSegment('orders'))
})

/** Percent-encodes every character of `text` (UTF-8), `times` times over. */
function encode (text: string, times: number): string {
  let out = text
  for (let i = 0; i < times; i++) out = [...Buffer.from(out, 'utf8')].map(byte => `%${byte.toString(16).padStart(2, '0')}`).join('')
  return out
}

/**
 * Percent-encodes a choice of characters (as picked by `mask`), once; a `%` always, so that one decode undoes it, and
 * a `/` always, which would otherwise just end the segment.
 */
function encodeSome (text: string, mask: boolean[]): string {
  return [...text].map((char, i) => char === '%' || char === '/' || mask[i % mask.length] === true ? encode(char, 1) : char).join('')
}

t.test('property: a dot segment or a slash in a segment, encoded zero, one or two times (all or some characters), is unsafe wherever it sits', async t => {
  const safe = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/)
  const attack = fc.oneof(
    fc.constantFrom('.', '..', '..;x'),
    fc.tuple(safe, fc.constantFrom('/', '\\'), safe).map(parts => parts.join(''))
  )
  await fc.assert(fc.property(
    fc.array(safe, { maxLength: 3 }), attack, fc.integer({ min: 0, max: 2 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }), fc.array(safe, { maxLength: 3 }),
    (before, bad, times, mask, after) => {
      // A raw slash would just split the segment; it only counts encoded.
      const segment = times === 0 ? bad.replace('/', '%2f') : times === 1 ? encodeSome(bad, mask) : encodeSome(encodeSome(bad, mask), mask.map(bit => !bit))
      return isUnsafePath(`/${[...before, segment, ...after].join('/')}`)
    }), { seed: SEED, numRuns: 500 })
  for (const bad of ['..', '.', 'a/b', 'a\\b']) for (const times of [1, 2]) t.ok(isUnsafePath(`/api/${encode(bad, times)}/x`), `${bad} encoded ${times}×`)
})

t.test('property: paths of unreserved characters (no lone dot segments) are safe, however often encoded', async t => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/).filter(s => s !== '.' && s !== '..')
  await fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 2 }),
    (segments, times) => !isUnsafePath(`/${segments.map(s => encode(s, times)).join('/')}`)), { seed: SEED, numRuns: 500 })
  t.pass('500 cases')
})

t.test('property: the fast path never changes the answer (same as checking every segment)', async t => {
  const piece = fc.constantFrom('a', '.', '..', '%2e', '%2E', '%25', '%252e', '%2f', '%5c', '%3b', ';', '%20', '%41', '%c3%a9', '%c0', '%ae', '%ef%bc%8e', '%00', '%', '%2', '%5', '%65', '%66', '%63', '%32', '\\', '?', '/', 'é')
  await fc.assert(fc.property(fc.array(piece, { minLength: 1, maxLength: 12 }), pieces => {
    const url = `/${pieces.join('')}`
    const path = url.split('?', 1)[0] ?? ''
    return isUnsafePath(url) === path.split('/').some(segment => segment !== '' && isUnsafeSegment(segment))
  }), { seed: SEED, numRuns: 2000 })
  t.pass('2000 cases')
})
