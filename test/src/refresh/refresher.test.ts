import t from 'tap'
import { GatewayError } from '../../../src/errors.js'
import type { RefreshOutcome } from '../../../src/metrics/metrics.js'
import { createRefresher, type RefreshContext, type RefreshLogger, type Waits } from '../../../src/refresh/refresher.js'
import { createMemoryStore } from '../../../src/session/memory-store.js'
import { createLocalLock } from '../../../src/session/refresh-lock.js'
import { createSessionEnder } from '../../../src/session/session-end.js'
import { storageKey } from '../../../src/session/session-id.js'
import type { SessionRecord, SessionStore } from '../../../src/session/session-store.js'
import { createSessions, type NewSession } from '../../../src/session/sessions.js'
import { IdpError } from '../../../src/token/idp-error.js'
import type { TokenSet } from '../../../src/token/token-set.js'
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js'

const LIFETIME = 300_000
const IDP_TIMEOUT = 1_000

interface Line { level: string, msg: string, [field: string]: unknown }

/** A pino-like logger that keeps its lines. */
function capturingLogger (): RefreshLogger & { lines: Line[] } {
  const lines: Line[] = []
  const at = (level: string) => (obj: object, msg: string): void => { lines.push({ ...obj, level, msg }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** The token endpoint, as far as the refresher sees it: answers refreshes from a queue of results, records revocations. */
function fakeTokenClient (clock: ManualClock) {
  const redeemed: Array<{ refreshToken: string, ip: string | undefined }> = []
  const revoked: string[] = []
  const answers: Array<Error | Partial<TokenSet> | Promise<Partial<TokenSet>>> = []
  let issued = 0
  return {
    redeemed,
    revoked,
    /** What the next refresh answers: a token set (fields over a fresh default), a promise of one, or an error. */
    answer (result: Error | Partial<TokenSet> | Promise<Partial<TokenSet>>) { answers.push(result) },
    /** The next refresh answers only once the returned function is called. */
    hold (): () => void {
      let release!: () => void
      answers.push(new Promise(resolve => { release = () => { resolve({}) } }))
      return release
    },
    async refresh (refreshToken: string, context?: { ip?: string | undefined }): Promise<TokenSet> {
      redeemed.push({ refreshToken, ip: context?.ip })
      const next = answers.shift() ?? {}
      if (next instanceof Error) throw next
      const fields = await next
      issued++
      return { accessToken: `at-${issued}`, refreshToken: `rt-${issued}`, idToken: undefined, expiresAt: clock.now() + LIFETIME, lifetimeMs: LIFETIME, scope: undefined, recoveryCode: undefined, ...fields }
    },
    async revoke (refreshToken: string) { revoked.push(refreshToken) }
  }
}

/** Waits that never sleep: each advances a monotonic counter by its delay (and may run a step the test gives). */
function manualWaits (): Waits & { delays: number[], onSleep?: (count: number) => Promise<void> } {
  let now = 0
  const waits: Waits & { delays: number[], onSleep?: (count: number) => Promise<void> } = {
    delays: [],
    async sleep (ms) {
      waits.delays.push(ms)
      now += ms
      await waits.onSleep?.(waits.delays.length)
    },
    monotonicNow: () => now
  }
  return waits
}

const NEW = (clock: ManualClock, extra: Partial<NewSession> = {}): NewSession => ({
  sub: 'auth0|alice',
  user: { sub: 'auth0|alice', name: 'Alice' },
  accessToken: 'at-0',
  refreshToken: 'rt-0',
  expiresAt: clock.now() + LIFETIME,
  lifetimeMs: LIFETIME,
  scope: 'openid offline_access',
  ...extra
})

/** A refresher over a real memory store and Sessions layer, a fake token endpoint, a manual clock and manual waits. */
function setup (options: { verify?: (idToken: string) => Promise<Record<string, unknown>> } = {}) {
  const clock = createManualClock()
  const log = capturingLogger()
  let reads = 0
  const inner = createMemoryStore({ maxEntries: 100, clock })
  const store: SessionStore = { ...inner, get: async key => { reads++; return await inner.get(key) } }
  const sessions = createSessions({ store, clock, idleTimeoutMs: 3_600_000, absoluteTimeoutMs: 86_400_000, ender: createSessionEnder({ log }) })
  const tokenClient = fakeTokenClient(clock)
  const lock = createLocalLock()
  const waits = manualWaits()
  const outcomes: RefreshOutcome[] = []
  const refresher = createRefresher({
    sessions,
    tokenClient,
    verifier: { verify: options.verify ?? (async () => { throw new Error('no id_token expected') }) },
    lock,
    clock,
    settings: { skewMs: 60_000, minIntervalMs: 10_000, idpTimeoutMs: IDP_TIMEOUT },
    onOutcome: outcome => { outcomes.push(outcome) },
    waits
  })
  const context: RefreshContext = { ip: '203.0.113.7', log }
  return {
    clock,
    log,
    sessions,
    tokenClient,
    lock,
    waits,
    outcomes,
    refresher,
    context,
    reads: () => reads,
    login: async (extra?: Partial<NewSession>) => (await sessions.create(NEW(clock, extra))).id,
    codeOf: async (promise: Promise<unknown>): Promise<{ code?: string, retryAfter?: number }> => {
      try {
        await promise
        return {}
      } catch (err) {
        if (!(err instanceof GatewayError)) throw err
        return { code: err.code, retryAfter: err.retryAfter }
      }
    }
  }
}

t.test('a fresh token is not refreshed; an expired one is, and the rotated record is stored', async t => {
  const s = setup()
  const id = await s.login()
  const fresh = await s.refresher.refresh(id, s.context)
  t.equal(fresh.accessToken, 'at-0')
  t.equal(s.tokenClient.redeemed.length, 0, 'nothing redeemed for a fresh token')

  s.clock.advance(LIFETIME)
  const next = await s.refresher.refresh(id, s.context)
  t.same(s.tokenClient.redeemed, [{ refreshToken: 'rt-0', ip: '203.0.113.7' }], 'the stored refresh token, with the client IP')
  t.match(next, { accessToken: 'at-1', refreshToken: 'rt-1', version: 1, lastRefreshAt: s.clock.now(), expiresAt: s.clock.now() + LIFETIME, scope: 'openid offline_access' })
  t.same(await s.sessions.peek(id), next, 'stored')
  t.same(s.outcomes, ['ok'])
  t.ok(s.log.lines.some(line => line.level === 'debug' && line.outcome === 'ok'))
})

t.test('concurrent refreshes of one session redeem its token once', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  const release = s.tokenClient.hold()
  const all = Array.from({ length: 20 }, async () => await s.refresher.refresh(id, s.context))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(s.refresher.inflight, 1, 'one refresh in flight')
  release()
  const results = await Promise.all(all)
  t.ok(results.every(record => record.accessToken === 'at-1'))
  t.equal(s.tokenClient.redeemed.length, 1)
  t.equal(s.refresher.inflight, 0)
})

t.test('without rotation the refresh token is kept; a new id_token replaces the claims, a bad one keeps them', async t => {
  const s = setup({
    verify: async idToken => {
      if (idToken === 'bad') throw new Error('signature mismatch')
      return { sub: 'auth0|alice', name: 'Alice Liddell', iss: 'https://idp', aud: 'client', exp: 1, iat: 1 }
    }
  })
  const id = await s.login()
  s.clock.advance(LIFETIME)
  s.tokenClient.answer({ refreshToken: undefined, idToken: 'good', scope: 'openid' })
  const first = await s.refresher.refresh(id, s.context)
  t.equal(first.refreshToken, 'rt-0', 'no refresh token returned: the stored one stays')
  t.same(first.user, { sub: 'auth0|alice', name: 'Alice Liddell' }, 'profile claims, technical claims removed')
  t.equal(first.scope, 'openid', 'the granted scope')

  s.clock.advance(LIFETIME)
  s.tokenClient.answer({ idToken: 'bad' })
  const second = await s.refresher.refresh(id, s.context)
  t.equal(second.accessToken, 'at-2', 'refreshed all the same')
  t.same(second.user, first.user, 'previous claims kept')
  t.ok(s.log.lines.some(line => line.level === 'warn' && line.reason === 'signature mismatch'))
  t.notOk(JSON.stringify(s.log.lines).includes('rt-'), 'no refresh token in a log line')
})

t.test('invalid_grant ends the session (refresh_refused) and answers session_expired', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  s.tokenClient.answer(new IdpError('oauth', { status: 403, error: 'invalid_grant', description: 'Unknown or invalid refresh token.' }))
  t.equal((await s.codeOf(s.refresher.renewExpired(id, s.context))).code, 'session_expired')
  t.equal(await s.sessions.peek(id), undefined, 'session gone')
  t.same(s.outcomes, ['invalid_grant'])
  const ends = s.log.lines.filter(line => line.event === 'session_ended')
  t.same(ends.map(line => line.reason), ['refresh_refused'], 'ended once, by the refusal (token_expired found it gone)')
})

t.test('a client-authentication failure is not a refused token: the session is kept', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  s.tokenClient.answer(new IdpError('oauth', { status: 401, error: 'invalid_client', description: 'Client authentication failed' }))
  t.same(await s.codeOf(s.refresher.refresh(id, s.context)), { code: 'idp_unavailable', retryAfter: 2 })
  t.not(await s.sessions.peek(id), undefined)
  t.ok(s.log.lines.some(line => line.level === 'error' && line.msg.startsWith('refresh refused: client authentication failed')), 'the configuration hint is logged')
  t.same(s.outcomes, ['transient'])
})

t.test('expired without a refresh token: renewExpired ends the session (token_expired) without calling the IdP', async t => {
  const s = setup()
  const id = await s.login({ refreshToken: undefined })
  s.clock.advance(LIFETIME)
  t.equal((await s.codeOf(s.refresher.renewExpired(id, s.context))).code, 'session_expired')
  t.equal(s.tokenClient.redeemed.length, 0)
  t.equal(await s.sessions.peek(id), undefined)
  t.same(s.log.lines.filter(line => line.event === 'session_ended').map(line => line.reason), ['token_expired'])
})

t.test('a transient failure keeps the session and backs its refresh off for 2 s', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  s.tokenClient.answer(new IdpError('timeout'))
  t.same(await s.codeOf(s.refresher.refresh(id, s.context)), { code: 'idp_unavailable', retryAfter: 2 })
  t.match(await s.sessions.peek(id), { accessToken: 'at-0', refreshNotBefore: s.clock.now() + 2_000, refreshBlockedBy: 'idp_unavailable' })
  s.clock.advance(1_000)
  t.same(await s.codeOf(s.refresher.refresh(id, s.context)), { code: 'idp_unavailable', retryAfter: 1 }, 'inside the back-off: the same answer')
  t.equal(s.tokenClient.redeemed.length, 1, 'without a call')
  s.clock.advance(1_000)
  const next = await s.refresher.refresh(id, s.context)
  t.equal(next.accessToken, 'at-1')
  t.equal(next.refreshNotBefore, undefined, 'the not-before is cleared by a refresh')
  t.equal(next.refreshBlockedBy, undefined)
  t.same(s.outcomes, ['transient', 'ok'])
})

t.test('429: the session waits out Retry-After; three sessions limited at once back the whole gateway off', async t => {
  const s = setup()
  const ids = [await s.login(), await s.login(), await s.login()]
  s.clock.advance(30_000)
  const other = await s.login() // 30 s younger than the others
  s.clock.advance(LIFETIME - 30_000) // the three expired, the other has 30 s left: inside its window
  for (const id of ids) {
    s.tokenClient.answer(new IdpError('oauth', { status: 429, error: 'too_many_requests', retryAfter: 10 }))
    t.same(await s.codeOf(s.refresher.refresh(id, s.context)), { code: 'refresh_rate_limited', retryAfter: 10 })
  }
  t.match(await s.sessions.peek(ids[0] ?? ''), { refreshNotBefore: s.clock.now() + 10_000, refreshBlockedBy: 'refresh_rate_limited' })
  t.same(s.outcomes, ['rate_limited', 'rate_limited', 'rate_limited'])
  const record = await s.sessions.peek(other)
  if (record === undefined) throw new Error('the other session is gone')
  const reads = s.reads()
  t.same(s.refresher.decide(other, record), { kind: 'use' }, 'inside its window, the other session is not refreshed during the back-off')
  t.equal(s.reads(), reads, 'deciding reads nothing')
  s.clock.advance(30_000) // the other expired; the back-off (10 s plus at most 5 s jitter) is over
  t.same(s.refresher.decide(other, record), { kind: 'wait' })
})

t.test('a 429 the IdP calls global backs every session off at once, expired ones with a 503', async t => {
  const s = setup()
  const limited = await s.login()
  const other = await s.login()
  s.clock.advance(LIFETIME)
  s.tokenClient.answer(new IdpError('oauth', { status: 429, error: 'too_many_requests', description: 'Global token endpoint rate limits exceeded.', retryAfter: 10 }))
  t.equal((await s.codeOf(s.refresher.refresh(limited, s.context))).code, 'refresh_rate_limited')
  const answer = await s.codeOf(s.refresher.refresh(other, s.context))
  t.equal(answer.code, 'refresh_rate_limited', 'the other session waits too')
  t.ok((answer.retryAfter ?? 0) >= 10 && (answer.retryAfter ?? 0) <= 15, `until the back-off and its jitter (${answer.retryAfter ?? 0} s)`)
  t.equal(s.tokenClient.redeemed.length, 1, 'without a call')
  s.clock.advance(15_000)
  t.equal((await s.refresher.refresh(other, s.context)).accessToken, 'at-1')
})

t.test('a session that is logged out while its refresh is at the IdP stays gone; the new refresh token is revoked', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  const release = s.tokenClient.hold()
  const pending = s.codeOf(s.refresher.refresh(id, s.context))
  await new Promise(resolve => setImmediate(resolve))
  await s.sessions.end(id, 'logout')
  release()
  t.equal((await pending).code, 'no_session')
  t.equal(await s.sessions.peek(id), undefined)
  await new Promise(resolve => setImmediate(resolve))
  t.ok(s.tokenClient.revoked.includes('rt-1'), 'the refresh token nobody received is revoked')
})

t.test('renewRefused: a newer stored token is taken as is; the same one is refreshed, even if not expired', async t => {
  const s = setup()
  const id = await s.login()
  const request = { sessionId: id, ip: '203.0.113.7', log: s.log, accessToken: 'at-old', gatewaySession: null as SessionRecord | null }
  const newer = await s.refresher.renewRefused(request)
  t.equal(newer.accessToken, 'at-0', 'another request had refreshed: its token')
  t.equal(request.accessToken, 'at-0')
  t.equal(request.gatewaySession, newer)
  t.equal(s.tokenClient.redeemed.length, 0)

  const forced = await s.refresher.renewRefused(request)
  t.equal(s.tokenClient.redeemed.length, 1, 'the refused token is refreshed though it has not expired')
  t.equal(forced.accessToken, 'at-1')
  t.equal(request.accessToken, 'at-1')
  t.same(request.gatewaySession, await s.sessions.peek(id))
})

t.test('background refresh: a failure is only logged at debug', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME - 20_000)
  s.tokenClient.answer(new IdpError('network'))
  s.refresher.refreshInBackground(id, s.context)
  await s.refresher.refresh(id, s.context).catch(() => {})
  t.ok(s.log.lines.some(line => line.level === 'debug' && line.msg === 'background refresh did not complete' && line.code === 'idp_unavailable'))
})

t.test('another replica holds the lock: its new tokens are taken, nothing is redeemed here', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  const release = await s.lock.acquire(storageKey(id), 10_000)
  s.waits.onSleep = async count => {
    if (count !== 3) return
    const record = await s.sessions.peek(id)
    if (record !== undefined) await s.sessions.save(id, { ...record, accessToken: 'at-other', version: record.version + 1 })
  }
  const next = await s.refresher.refresh(id, s.context)
  t.equal(next.accessToken, 'at-other')
  t.same(s.waits.delays, [20, 40, 80], 'polled with a doubling delay')
  t.equal(s.tokenClient.redeemed.length, 0)
  await release?.()
})

t.test('another replica holds the lock and records a failure: the same answer here', async t => {
  const s = setup()
  const id = await s.login()
  s.clock.advance(LIFETIME)
  await s.lock.acquire(storageKey(id), 10_000)
  s.waits.onSleep = async () => {
    const record = await s.sessions.peek(id)
    if (record !== undefined) await s.sessions.save(id, { ...record, refreshNotBefore: s.clock.now() + 30_000, refreshBlockedBy: 'refresh_rate_limited' })
  }
  t.same(await s.codeOf(s.refresher.refresh(id, s.context)), { code: 'refresh_rate_limited', retryAfter: 30 })
  t.equal(s.tokenClient.redeemed.length, 0)
})

t.test('another replica holds the lock and never finishes: the wait ends at IDP_TIMEOUT', async t => {
  for (const [name, leftMs] of [['expired', 0], ['inside the window', 20_000]] as const) {
    await t.test(name, async t => {
      const s = setup()
      const id = await s.login()
      s.clock.advance(LIFETIME - leftMs)
      await s.lock.acquire(storageKey(id), 10_000)
      const result = await s.codeOf(s.refresher.refresh(id, s.context))
      t.same(s.waits.delays, [20, 40, 80, 160, 200, 200, 200, 100], 'polls, doubling up to 200 ms, never past the deadline')
      t.equal(s.waits.delays.reduce((sum, ms) => sum + ms, 0), IDP_TIMEOUT)
      t.ok(s.log.lines.some(line => line.outcome === 'lock_wait_timeout'))
      t.equal(s.tokenClient.redeemed.length, 0)
      if (leftMs === 0) t.same(result, { code: 'idp_unavailable', retryAfter: 1 }, 'an expired token: 503')
      else t.same(result, {}, 'a valid token: used as is')
    })
  }
})

t.test('a session gone before or during the refresh: no_session', async t => {
  const s = setup()
  t.equal((await s.codeOf(s.refresher.refresh('no-such-session', s.context))).code, 'no_session')
  const id = await s.login()
  s.clock.advance(LIFETIME)
  await s.lock.acquire(storageKey(id), 10_000)
  s.waits.onSleep = async () => { await s.sessions.end(id, 'logout') }
  t.equal((await s.codeOf(s.refresher.refresh(id, s.context))).code, 'no_session', 'ended while another replica held the lock')
})
