import { randomBytes } from 'node:crypto'
import t from 'tap'
import { decide, spreadFor, type DecideState } from '../../../src/refresh/decide.js'
import type { SessionRecord } from '../../../src/session/session-store.js'

const NOW = Date.UTC(2030, 0, 1)
const LIFETIME = 300_000
const STATE: DecideState = { skewMs: 60_000, minIntervalMs: 10_000, globalNotBefore: 0 }

/** A session whose 300 s access token has `leftMs` to live at NOW. */
function record (leftMs: number, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    sub: 'auth0|alice',
    user: {},
    accessToken: 'at',
    refreshToken: 'rt',
    expiresAt: NOW + leftMs,
    lifetimeMs: LIFETIME,
    scope: 'openid',
    createdAt: NOW - 600_000,
    absoluteExpiresAt: NOW + 3_600_000,
    lastSeenAt: NOW,
    version: 3,
    ...extra
  }
}

const noRefreshToken = (leftMs: number): SessionRecord => {
  const { refreshToken: _, ...rest } = record(leftMs)
  return rest
}

t.test('fresh: outside the window the token is used, whatever else the record says', async t => {
  t.same(decide(record(61_000), NOW, STATE, 0), { kind: 'use' })
  t.same(decide(noRefreshToken(61_000), NOW, STATE, 0), { kind: 'use' }, 'even without a refresh token')
  t.same(decide(record(61_000, { refreshNotBefore: NOW + 5_000 }), NOW, { ...STATE, globalNotBefore: NOW + 5_000 }, 0), { kind: 'use' })
  t.equal(decide(record(100_000), NOW, STATE, 0), decide(record(200_000), NOW, STATE, 0), 'one shared answer: nothing allocated')
})

t.test('in the window with a refresh token: use it and refresh in the background', async t => {
  t.same(decide(record(60_000), NOW, STATE, 0), { kind: 'use-and-refresh' }, 'the window starts REFRESH_SKEW before expiry')
  t.same(decide(record(1), NOW, STATE, 0), { kind: 'use-and-refresh' }, 'up to the last millisecond')
  t.same(decide(record(10_000, { lastRefreshAt: NOW - 10_000 }), NOW, STATE, 0), { kind: 'use-and-refresh' }, 'REFRESH_MIN_INTERVAL just over')
  t.same(decide(record(10_000, { refreshNotBefore: NOW }), NOW, { ...STATE, globalNotBefore: NOW }, 0), { kind: 'use-and-refresh' }, 'not-before times just over')
})

t.test('the spread moves the window start by up to half the window, per session', async t => {
  t.same(decide(record(45_000), NOW, STATE, 0), { kind: 'use-and-refresh' })
  t.same(decide(record(45_001), NOW, STATE, 0.5), { kind: 'use' }, 'spread 0.5: the window starts 45 s before expiry')
  t.same(decide(record(45_000), NOW, STATE, 0.5), { kind: 'use-and-refresh' })
  t.same(decide(record(30_004), NOW, STATE, 0.9999), { kind: 'use' })
  t.same(decide(record(30_000), NOW, STATE, 0.9999), { kind: 'use-and-refresh' }, 'at most half the window later')
})

t.test('the window is at most half the token lifetime', async t => {
  const short = (leftMs: number): SessionRecord => record(leftMs, { lifetimeMs: 60_000 })
  t.same(decide(short(31_000), NOW, STATE, 0), { kind: 'use' }, 'min(60 s, 30 s) = 30 s')
  t.same(decide(short(30_000), NOW, STATE, 0), { kind: 'use-and-refresh' })
})

t.test('in the window, no background refresh when none could be made: the token is used', async t => {
  t.same(decide(noRefreshToken(20_000), NOW, STATE, 0), { kind: 'use' }, 'no refresh token')
  t.same(decide(record(20_000, { lastRefreshAt: NOW - 9_999 }), NOW, STATE, 0), { kind: 'use' }, 'REFRESH_MIN_INTERVAL not over')
  t.same(decide(record(20_000, { refreshNotBefore: NOW + 1, refreshBlockedBy: 'idp_unavailable' }), NOW, STATE, 0), { kind: 'use' }, 'the record\'s not-before')
  t.same(decide(record(20_000), NOW, { ...STATE, globalNotBefore: NOW + 1 }, 0), { kind: 'use' }, 'the gateway-wide back-off')
})

t.test('expired and refreshable: wait for the refresh', async t => {
  t.same(decide(record(0), NOW, STATE, 0), { kind: 'wait' }, 'at the expiry instant')
  t.same(decide(record(-60_000, { lastRefreshAt: NOW - 300_000, refreshNotBefore: NOW - 1 }), NOW, STATE, 0), { kind: 'wait' }, 'not-before passed')
})

t.test('expired without a refresh token: the session ends', async t => {
  t.same(decide(noRefreshToken(0), NOW, STATE, 0), { kind: 'end' })
  t.same(decide(noRefreshToken(-1), NOW, { ...STATE, globalNotBefore: NOW + 5_000 }, 0), { kind: 'end' }, 'a back-off does not keep it alive')
})

t.test('expired while no refresh may be tried: defer with the code and the time it may', async t => {
  t.same(decide(record(-1, { lastRefreshAt: NOW - 4_000 }), NOW, STATE, 0),
    { kind: 'defer', code: 'refresh_rate_limited', until: NOW + 6_000 }, 'REFRESH_MIN_INTERVAL')
  t.same(decide(record(-1, { refreshNotBefore: NOW + 30_000, refreshBlockedBy: 'refresh_rate_limited' }), NOW, STATE, 0),
    { kind: 'defer', code: 'refresh_rate_limited', until: NOW + 30_000 }, 'the IdP\'s 429 for the session')
  t.same(decide(record(-1, { refreshNotBefore: NOW + 2_000, refreshBlockedBy: 'idp_unavailable' }), NOW, STATE, 0),
    { kind: 'defer', code: 'idp_unavailable', until: NOW + 2_000 }, 'a transient failure\'s back-off')
  t.same(decide(record(-1, { refreshNotBefore: NOW + 2_000 }), NOW, STATE, 0),
    { kind: 'defer', code: 'idp_unavailable', until: NOW + 2_000 }, 'a not-before without a reason')
  t.same(decide(record(-1), NOW, { ...STATE, globalNotBefore: NOW + 12_000 }, 0),
    { kind: 'defer', code: 'refresh_rate_limited', until: NOW + 12_000 }, 'the gateway-wide back-off')
  t.same(decide(record(-1, { refreshNotBefore: NOW + 2_000, refreshBlockedBy: 'idp_unavailable' }), NOW, { ...STATE, globalNotBefore: NOW + 12_000 }, 0),
    { kind: 'defer', code: 'idp_unavailable', until: NOW + 12_000 }, 'the later of the two times; the session\'s own reason while it lasts')
  t.same(decide(record(-1, { refreshNotBefore: NOW - 1, refreshBlockedBy: 'idp_unavailable', lastRefreshAt: NOW - 1_000 }), NOW, STATE, 0),
    { kind: 'defer', code: 'refresh_rate_limited', until: NOW + 9_000 }, 'a past not-before gives no reason: the interval does')
})

t.test('refused: a valid-looking token counts as expired', async t => {
  t.same(decide(record(200_000), NOW, STATE, 0, true), { kind: 'wait' })
  t.same(decide(noRefreshToken(200_000), NOW, STATE, 0, true), { kind: 'end' })
  t.same(decide(record(200_000, { lastRefreshAt: NOW - 1_000 }), NOW, STATE, 0, true), { kind: 'defer', code: 'refresh_rate_limited', until: NOW + 9_000 })
})

t.test('spreadFor: stable per session id, in [0, 1)', async t => {
  t.equal(spreadFor('AAAxyz'), 0)
  t.equal(spreadFor('___xyz'), (64 ** 3 - 1) / 64 ** 3)
  t.equal(spreadFor('gAAxyz'), 0.5)
  t.equal(spreadFor('gAA'), spreadFor('gAAother'), 'only the first three characters count')
  t.equal(spreadFor(''), 0, 'a short id does not throw')
  t.equal(spreadFor('g'), 0.5, 'missing characters count as 0')
  t.equal(spreadFor('g!\u00e9'), 0.5, 'so do characters outside base64url')
  t.equal(spreadFor('-_A'), (62 * 64 * 64 + 63 * 64) / 64 ** 3, 'the URL-safe digits')
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const wrong = Array.from({ length: 500 }, () => randomBytes(32).toString('base64url')).filter(id => {
    const [a = 0, b = 0, c = 0] = [0, 1, 2].map(at => alphabet.indexOf(id.charAt(at)))
    return spreadFor(id) !== (a * 4096 + b * 64 + c) / 64 ** 3
  })
  t.same(wrong, [], 'random session ids: their first three base64url digits')
})
