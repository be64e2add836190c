/**
 * The demo page's second factor in headless Chromium, as a person would click through it with the demo MFA user:
 * a wrong one-time password, then the right one (TOTP computed here like an authenticator app); a push that is
 * cancelled, one rejected and one approved at the IdP's control API while the page polls; an SMS binding code read
 * from the control API; a recovery code, and the new one shown exactly once. Screenshots: artifacts/screenshots/09-mfa-*.
 * Pushes are polled every second (MFA_POLL_INTERVAL=1s, and the IdP answers slow_down to polls closer than that), so
 * the push test waits about as long as a person's approval would take, not 5 s per poll.
 */
import t, { type Test } from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { DEMO_MFA_USER, startDemoStack } from '../../demo/stack.js'
import { totp, totpStep, hotp, base32Decode } from '../../idp/totp.js'
import { WAIT_MS, launchChromium, screenshot } from './browser.js'

const COOKIE_NAME = '__Host-bff-session'
const MFA_USER = { id: DEMO_MFA_USER.userId, name: 'Mia Factor' }
const TOTP_SECRET = DEMO_MFA_USER.totpSecret
const FIRST_RECOVERY_CODE = DEMO_MFA_USER.recoveryCode

const browser: Browser = await launchChromium(t)
const POLL_INTERVAL_SEC = 1
const stack = await startDemoStack({
  demoPage: true,
  // The push test challenges the same push authenticator three times within seconds (cancel, two tabs): the
  // 30-second limit per authenticator is off here (test/routes/mfa-throttle.test.ts tests it).
  env: { LOG_LEVEL: 'silent', MFA_POLL_INTERVAL: `${POLL_INTERVAL_SEC}s`, MFA_CHALLENGE_RATE_LIMIT_AUTHENTICATOR: 'off' },
  idp: { mfa: { pollIntervalSec: POLL_INTERVAL_SEC } }
})
t.teardown(async () => { await stack.close() })
const control = `${stack.idp.url}/__idp/mfa`
const user = encodeURIComponent(MFA_USER.id)
const pageErrors: string[] = []

async function newPage (): Promise<{ context: BrowserContext, page: Page }> {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } })
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  page.on('pageerror', err => { pageErrors.push(err.message) })
  page.on('console', message => {
    // 401/202 answers are normal here; Chromium logs failed loads, which are not page errors.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
  })
  return { context, page }
}

async function waitForState (page: Page, expected: string): Promise<void> {
  await page.waitForFunction(s => document.body.dataset.state === s, expected, { timeout: WAIT_MS })
}

async function waitForStep (page: Page, step: string): Promise<void> {
  await page.waitForSelector(`#mfa-card[data-step="${step}"]:not([hidden])`, { timeout: WAIT_MS })
}

/** Waits for the message banner to show a code; on timeout, says what the page shows instead. */
async function waitForMessage (page: Page, code: string): Promise<void> {
  try {
    await page.waitForSelector(`#message[data-code="${code}"]`, { timeout: WAIT_MS })
  } catch (err) {
    const shown = await page.evaluate(() => `state=${document.body.dataset.state ?? ''} step=${document.getElementById('mfa-card')?.dataset.step ?? ''} message=${document.getElementById('message')?.textContent ?? ''}`)
    throw new Error(`expected the message ${code}; the page shows ${shown}`, { cause: err })
  }
}

/** Opens the page and signs in with the MFA user's password: the page lands on the factor list. */
async function passwordStep (page: Page): Promise<void> {
  await page.goto(`${stack.url}/`)
  await waitForState(page, 'signed-out')
  await page.click('button.fill[data-username="mfa@example.com"]')
  await page.click('#login-button')
  await waitForState(page, 'mfa')
  await waitForStep(page, 'choose')
}

async function pick (page: Page, selector: string, step: string): Promise<void> {
  await page.click(`#mfa-authenticators ${selector}`)
  await waitForStep(page, step)
}

async function submitCode (page: Page, code: string): Promise<void> {
  await page.fill('#mfa-code', code)
  await page.click('#mfa-submit')
}

async function idpControl (method: 'GET' | 'POST', path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${control}${path}`, { method })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return response.status === 204 ? {} : await response.json() as Record<string, unknown>
}

/** Signed in as after a password login; the pending-login cookie is gone and nothing secret reached the page. */
async function assertSignedIn (t: Test, context: BrowserContext, page: Page): Promise<void> {
  await waitForState(page, 'signed-in')
  t.equal(await page.textContent('#user-name'), MFA_USER.name)
  t.match(await page.textContent('#status'), /Signed in as Mia Factor/)
  t.ok(await page.isHidden('#mfa-card'))
  const cookies = await context.cookies(stack.url)
  t.ok(cookies.some(c => c.name === COOKIE_NAME && c.httpOnly), 'the session cookie is set')
  t.notOk(cookies.some(c => c.name === `${COOKIE_NAME}-mfa`), 'the pending-login cookie is cleared')
  const html = await page.content()
  t.notMatch(html, /Fe26\.2/, 'no mfa_token or oob_code in the page')
  t.notMatch(html, new RegExp(TOTP_SECRET), 'no TOTP secret in the page')
}

t.test('TOTP: the factor list, a wrong one-time password, then the right one', async t => {
  const { context, page } = await newPage()
  await passwordStep(page)
  await waitForMessage(page, 'mfa_required')
  t.match(await page.textContent('#status'), /Second factor needed/)
  const factors = await page.$$eval('#mfa-authenticators button.factor', buttons => buttons.map(b => `${b.dataset.type ?? ''}/${b.dataset.channel ?? ''}: ${b.textContent ?? ''}`))
  t.equal(factors.length, 4, 'the active factors (the inactive email enrollment is not offered)')
  t.match(factors.join('\n'), /otp\/: Authenticator app/)
  t.match(factors.join('\n'), /oob\/auth0: Push to Mia's phone/)
  t.match(factors.join('\n'), /oob\/sms: Text message to XXXXXXXX8730/)
  t.match(factors.join('\n'), /recovery-code\/: Recovery code/)
  t.ok((await context.cookies(stack.url)).some(c => c.name === `${COOKIE_NAME}-mfa` && c.httpOnly), 'the browser holds only the pending-login cookie')
  await screenshot(page, '09-mfa-choose')

  await pick(page, 'button[data-type="otp"]', 'otp')
  t.match(await page.textContent('#mfa-code-caption'), /authenticator app/)
  await screenshot(page, '09-mfa-otp')

  // A code valid in none of the steps the IdP accepts (one step of drift either way).
  const key = base32Decode(TOTP_SECRET)
  const now = totpStep(Date.now())
  const valid = new Set([-1, 0, 1, 2].map(d => hotp(key, now + d)))
  let wrong = 0
  while (valid.has(String(wrong).padStart(6, '0'))) wrong += 1
  await submitCode(page, String(wrong).padStart(6, '0'))
  await waitForMessage(page, 'mfa_invalid_code')
  t.match(await page.textContent('#message'), /That code is not right/)
  t.equal(await page.getAttribute('#mfa-card', 'data-step'), 'otp', 'the pending login stays for another try')
  await screenshot(page, '09-mfa-wrong-code')

  await submitCode(page, totp(TOTP_SECRET, Date.now()))
  await assertSignedIn(t, context, page)
  t.ok(await page.isHidden('#message'), 'the wrong-code message is gone')
  t.ok(await page.isHidden('#recovery-card'), 'no recovery code after a TOTP login')
  await screenshot(page, '09-mfa-signed-in')
})

/** The oob_code of the newest push the IdP "sent" (the control API takes it, or a user id for the newest challenge). */
function newestPush (): string {
  const push = stack.idp.messages.filter(m => m.kind === 'push').at(-1)
  if (push === undefined) throw new Error('no push was sent')
  return encodeURIComponent(push.oobCode)
}

/** The codes of the gateway's answers to a page's `POST /session/mfa` polls. */
function pollAnswers (page: Page): Array<{ code: unknown, interval: unknown }> {
  const answers: Array<{ code: unknown, interval: unknown }> = []
  page.on('response', response => {
    if (response.request().method() !== 'POST' || new URL(response.url()).pathname !== '/session/mfa') return
    response.json().then((body: Record<string, unknown>) => { answers.push({ code: body.code, interval: body.interval }) }, () => {})
  })
  return answers
}

t.test('push: cancel, then one rejected and one approved while the pages poll', async t => {
  const { context, page } = await newPage()
  const answers = pollAnswers(page)
  await passwordStep(page)
  await pick(page, 'button[data-channel="auth0"]', 'push')
  t.match(await page.textContent('#mfa-push'), /Waiting for approval on Mia's phone/)
  await page.click('#mfa-cancel')
  await waitForStep(page, 'choose')
  t.match(await page.textContent('#message'), /Push cancelled/)
  await pick(page, 'button[data-channel="auth0"]', 'push')
  t.equal(await page.getAttribute('#mfa-push', 'data-interval'), String(POLL_INTERVAL_SEC), 'the interval from the challenge answer')
  const approved = newestPush()

  // A second tab (own cookie jar), whose push is rejected on the device; both wait side by side (polls are 1 s apart).
  const other = await newPage()
  await passwordStep(other.page)
  await pick(other.page, 'button[data-channel="auth0"]', 'push')
  await idpControl('POST', `/push/${newestPush()}/reject`)

  await Promise.all([
    (async () => {
      // The gateway ends the pending login; the page goes back to the password.
      await waitForMessage(other.page, 'mfa_rejected')
      t.match(await other.page.textContent('#message'), /The push was rejected/)
      await waitForState(other.page, 'signed-out')
      await screenshot(other.page, '09-mfa-push-rejected')
    })(),
    (async () => {
      // Approved after the first poll answered mfa_pending: the next poll signs in.
      // At least one poll: at one a second the page may well have polled again by the time this looks.
      await page.waitForFunction(() => Number(document.getElementById('mfa-push')?.dataset.polls) >= 1, undefined, { timeout: WAIT_MS })
      t.equal(await page.getAttribute('#mfa-card', 'data-step'), 'push', 'still waiting after mfa_pending')
      t.match(await page.textContent('#mfa-push-next'), new RegExp(`next check in \\d+ s \\(every ${POLL_INTERVAL_SEC} s; \\d+ checks? so far\\)|checking`))
      await screenshot(page, '09-mfa-push-waiting')
      await idpControl('POST', `/push/${approved}/approve`)
      await assertSignedIn(t, context, page)
    })()
  ])
  // The page waited as long as it was told: every poll before the approval was mfa_pending with the configured
  // interval, none came early enough for the IdP to answer slow_down.
  const waiting = answers.filter(a => a.code !== undefined)
  t.ok(waiting.length >= 1, `polls answered mfa_pending: ${JSON.stringify(answers)}`)
  t.same(waiting, waiting.map(() => ({ code: 'mfa_pending', interval: POLL_INTERVAL_SEC })), 'no mfa_slow_down')
})

t.test('SMS: the binding code read from the IdP signs in', async t => {
  const { context, page } = await newPage()
  await passwordStep(page)
  await pick(page, 'button[data-channel="sms"]', 'binding_code')
  t.match(await page.textContent('#mfa-code-caption'), /sent a 6-digit code to XXXXXXXX8730/)
  const { binding_code: code } = await idpControl('GET', `/binding-code/${user}`)
  t.type(code, 'string')
  t.ok(stack.idp.messages.some(m => m.kind === 'sms' && m.bindingCode === code), 'the IdP "sent" it by SMS')
  await page.fill('#mfa-code', String(code))
  await screenshot(page, '09-mfa-sms')
  await page.click('#mfa-submit')
  await assertSignedIn(t, context, page)
})

t.test('recovery code: signs in and the new code is shown once', async t => {
  const { context, page } = await newPage()
  t.equal(stack.idp.recoveryCode(MFA_USER.id), FIRST_RECOVERY_CODE)
  await passwordStep(page)
  await pick(page, 'button[data-type="recovery-code"]', 'recovery_code')
  await submitCode(page, FIRST_RECOVERY_CODE)
  await assertSignedIn(t, context, page)
  await page.waitForSelector('#recovery-card:not([hidden])', { timeout: WAIT_MS })
  const shown = await page.textContent('#recovery-code')
  const next = stack.idp.recoveryCode(MFA_USER.id)
  t.not(next, FIRST_RECOVERY_CODE, 'the IdP replaced the used code')
  t.equal(shown, next, 'the page shows the new recovery code')
  t.match(await page.textContent('#recovery-card'), /will not show it again/)
  await screenshot(page, '09-mfa-recovery-code')

  await page.click('#recovery-done')
  t.ok(await page.isHidden('#recovery-card'))
  t.notOk((await page.content()).includes(String(next)), 'dismissed: gone from the page')
  await page.reload()
  await waitForState(page, 'signed-in')
  t.ok(await page.isHidden('#recovery-card'), 'not shown again after a reload')
  t.notOk((await page.content()).includes(String(next)))
})

t.test('no script error and no CSP violation on the way', async t => {
  t.same(pageErrors, [])
})
