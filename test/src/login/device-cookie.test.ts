import t from 'tap'
import { createDeviceCookies } from '../../../src/login/device-cookie.js'
import { createManualClock } from '../../helpers/manual-clock.js'

const SECRET = 'device-cookie-secret-0123456789abcdefghijk'
const OLD = 'device-cookie-secret-old-0123456789abcdefg'
const DAY = 86_400_000
const ALICE = { username: 'alice@example.com', realm: undefined }
const BOB = { username: 'bob@example.com', realm: undefined }

function setup (secrets = [SECRET]) {
  const clock = createManualClock()
  return { clock, cookies: createDeviceCookies({ secrets, lifetimeMs: 90 * DAY, clock }) }
}

t.test('a cookie issued to a user verifies for that user, however the name is written, and gives a stable device id', async t => {
  const { cookies } = setup()
  const value = cookies.issue(ALICE)
  t.match(value, /^[\w-]{22}\.\d+\.[\w-]{43}$/)
  const id = cookies.verify(value, ALICE)
  t.match(id, /^[\w-]{32}$/)
  t.equal(cookies.verify(value, { username: ' Alice@Example.COM ', realm: undefined }), id)
  t.not(cookies.verify(cookies.issue(ALICE), ALICE), id, 'every cookie is a device of its own')
})

t.test('no PII: the value holds neither the username nor a hash anyone could recompute', async t => {
  const { cookies } = setup()
  const value = cookies.issue(ALICE)
  t.notOk(value.toLowerCase().includes('alice'))
  const [nonce, issued] = value.split('.')
  const again = setup().cookies
  t.not(again.issue(ALICE).split('.')[0], nonce, 'the nonce is random')
  t.match(issued, /^\d+$/)
})

t.test('another user\'s cookie, another realm, a forged or altered one, garbage: not valid', async t => {
  const { cookies } = setup()
  const value = cookies.issue(ALICE)
  t.equal(cookies.verify(value, BOB), undefined, 'alice\'s cookie does not help for bob')
  t.equal(cookies.verify(value, { username: ALICE.username, realm: 'other' }), undefined, 'nor in another realm')
  t.equal(setup(['another-secret-0123456789abcdefghijklmnop']).cookies.verify(value, ALICE), undefined, 'minted with another key')
  const [nonce, issued, mac] = value.split('.') as [string, string, string]
  const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`
  t.equal(cookies.verify(`${nonce}.${issued}.${flipped}`, ALICE), undefined, 'an altered MAC')
  t.equal(cookies.verify(`${nonce}.${Number(issued) + 86_400}.${mac}`, ALICE), undefined, 'a later issue time (to extend it)')
  t.equal(cookies.verify(`${'A'.repeat(22)}.${issued}.${mac}`, ALICE), undefined, 'another nonce (to reset its counter)')
  for (const bad of [undefined, 42, '', 'x', `${value}.x`, `${value} `, 'a'.repeat(5000), `${nonce}.${issued}`]) {
    t.equal(cookies.verify(bad, ALICE), undefined, `garbage: ${String(bad).slice(0, 20)}`)
  }
})

t.test('lifetime: honoured for 90 days after issue, not after; not from the future beyond a minute of skew', async t => {
  const { clock, cookies } = setup()
  const value = cookies.issue(ALICE)
  clock.advance(90 * DAY)
  t.ok(cookies.verify(value, ALICE), 'on the last day')
  clock.advance(1000)
  t.equal(cookies.verify(value, ALICE), undefined, 'expired')
  const ahead = createDeviceCookies({ secrets: [SECRET], lifetimeMs: 90 * DAY, clock: { now: () => clock.now() + 120_000 } })
  t.equal(cookies.verify(ahead.issue(ALICE), ALICE), undefined, 'issued two minutes "from now"')
  const slightlyAhead = createDeviceCookies({ secrets: [SECRET], lifetimeMs: 90 * DAY, clock: { now: () => clock.now() + 30_000 } })
  t.ok(cookies.verify(slightlyAhead.issue(ALICE), ALICE), 'within the skew')
})

t.test('rotation: the first secret issues, every listed one verifies; removing a secret revokes its cookies', async t => {
  const before = setup([OLD]).cookies
  const value = before.issue(ALICE)
  const rotated = setup([SECRET, OLD]).cookies
  t.ok(rotated.verify(value, ALICE), 'an old cookie still verifies while its secret is listed')
  t.ok(setup([SECRET]).cookies.verify(rotated.issue(ALICE), ALICE), 'new cookies come from the first secret')
  t.equal(setup([SECRET]).cookies.verify(value, ALICE), undefined, 'the old secret removed: revoked')
  t.throws(() => createDeviceCookies({ secrets: [], lifetimeMs: DAY, clock: { now: () => 0 } }), TypeError)
})
