/**
 * The demo page in headless Chromium, as a new user would click through it: a wrong password, sign-in, the httpOnly
 * cookie, an API call, a token refresh while the page stays open, sign-out. Screenshots go to artifacts/screenshots/.
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { startDemoStack } from '../../demo/stack.js'
import { DEMO_PAGE_CSP } from '../../routes/demo-page.js'
import { storageKey } from '../../src/session/session-id.js'
import { WAIT_MS, launchChromium, recordRequests, screenshot, type SeenRequest } from './browser.js'

const COOKIE_NAME = '__Host-bff-session'
const ALICE = { username: 'alice@example.com', password: 'alice-password-1' }

const browser = await launchChromium(t)
let seen: SeenRequest[] = []
// Access tokens live 4 s at the IdP; the gateway may refresh 1 s before expiry, at most once a second.
const stack = await startDemoStack({
  demoPage: true,
  accessTokenTtlSec: 4,
  env: { LOG_LEVEL: 'silent', REFRESH_SKEW: '1s', REFRESH_MIN_INTERVAL: '1s' },
  beforeListen: gateway => { seen = recordRequests(gateway) }
})
t.teardown(async () => { await stack.close() })
const context = await browser.newContext({ viewport: { width: 900, height: 900 } })
const page = await context.newPage()
const pageErrors: string[] = []
page.on('pageerror', err => { pageErrors.push(err.message) })
page.on('console', message => {
  // A 401 from GET /session is a normal signed-out answer; Chromium logs failed loads, which are not page errors.
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
})

async function state (): Promise<string | undefined> {
  return await page.evaluate(() => document.body.dataset.state)
}

async function waitForState (expected: string): Promise<void> {
  await page.waitForFunction(s => document.body.dataset.state === s, expected, { timeout: WAIT_MS })
}

/** Waits for the message banner to show an error code; on timeout, says what the page shows instead. */
async function waitForMessage (code: string): Promise<void> {
  try {
    await page.waitForSelector(`#message[data-code="${code}"]`, { timeout: WAIT_MS })
  } catch (err) {
    const shown = await page.evaluate(() => `state=${document.body.dataset.state ?? ''} message=${document.getElementById('message')?.outerHTML ?? ''} url=${location.href}`)
    throw new Error(`expected the message ${code}; the page shows ${shown}`, { cause: err })
  }
}

async function signIn (p: Page, username: string, password: string, realm = ''): Promise<void> {
  await p.fill('#username', username)
  await p.fill('#password', password)
  await p.fill('#realm', realm)
  await p.click('#login-button')
}

async function sessionTokens (): Promise<string[]> {
  const cookie = (await context.cookies(stack.url)).find(c => c.name === COOKIE_NAME)
  if (cookie === undefined) return []
  const id = decodeURIComponent(cookie.value)
  const record = await stack.gateway.sessionStore.get(storageKey(id.slice(0, id.lastIndexOf('.'))))
  return [record?.accessToken, record?.refreshToken].filter((token): token is string => token !== undefined)
}

t.test('the page loads signed out, under a strict CSP', async t => {
  const response = await page.goto(`${stack.url}/`)
  t.equal(response?.status(), 200)
  t.equal(response?.headers()['content-security-policy'], DEMO_PAGE_CSP)
  t.match(DEMO_PAGE_CSP, /connect-src 'self'/)
  t.notMatch(DEMO_PAGE_CSP, /unsafe-inline/)
  await waitForState('signed-out')
  t.ok(await page.isVisible('#login-form'))
  t.ok(await page.isHidden('#message'), 'no error for the normal signed-out answer')
  await screenshot(page, '01-signed-out')
})

t.test('a wrong password shows invalid_credentials', async t => {
  await signIn(page, ALICE.username, 'not-the-password')
  await waitForMessage('invalid_credentials')
  t.match(await page.textContent('#message'), /Wrong username or password/)
  t.equal(await state(), 'signed-out')
  t.equal(await page.inputValue('#password'), '', 'the password field is cleared')
  await screenshot(page, '02-wrong-password')
})

t.test('a blocked user shows access_denied', async t => {
  await signIn(page, 'carol@example.com', 'carol-password-1')
  await waitForMessage('access_denied')
  t.match(await page.textContent('#message'), /Access denied/)
  t.equal(await state(), 'signed-out')
})

t.test('sign-in: the session cookie is httpOnly, invisible to scripts, and sent with requests', async t => {
  await page.click('button.fill[data-username="alice@example.com"]')
  await page.click('#login-button')
  await waitForState('signed-in')
  t.ok(await page.isHidden('#message'), 'the earlier error is gone')
  t.equal(await page.textContent('#user-name'), 'Alice Example')
  t.equal(await page.textContent('#user-email'), 'alice@example.com')
  t.match(await page.textContent('#status'), /Signed in as Alice Example/)
  t.match(await page.textContent('#token-countdown'), /^0:0[0-4]$|^due/)

  const cookies = await context.cookies(stack.url)
  const session = cookies.find(c => c.name === COOKIE_NAME)
  t.ok(session, 'Chromium stored the __Host- cookie on http://127.0.0.1 (a secure context)')
  t.equal(session?.httpOnly, true)
  t.equal(session?.secure, true)
  t.equal(session?.sameSite, 'Strict')
  const documentCookie = await page.evaluate(() => document.cookie)
  t.notMatch(documentCookie, COOKIE_NAME, 'document.cookie does not show the session cookie')
  t.match(await page.textContent('#document-cookie'), /httpOnly/)

  // The page's own request proves the browser sends the cookie it cannot read.
  const before = seen.length
  const status = await page.evaluate(async () => (await fetch('/session', { credentials: 'include' })).status)
  t.equal(status, 200)
  const sent = seen.slice(before).find(r => r.method === 'GET' && r.path === '/session')
  t.equal(sent?.sessionCookie, true, 'the request carried the session cookie')
  const login = seen.find(r => r.method === 'POST' && r.path === '/session' && r.status === 200)
  t.equal(login?.origin, stack.url, 'the login came from the page with its own Origin')

  const tokens = await sessionTokens()
  t.equal(tokens.length, 2, 'the gateway holds an access and a refresh token')
  const html = await page.content()
  for (const token of tokens) t.notOk(html.includes(token), 'no token in the page')
  t.notMatch(html, /eyJ[\w-]+\.eyJ/, 'no JWT in the page')
  await screenshot(page, '03-signed-in')
})

t.test('the API call shows that a Bearer token arrived upstream and no cookie did', async t => {
  const before = seen.length
  await page.click('#call-api')
  await page.waitForSelector('#api-result[data-bearer]', { timeout: WAIT_MS })
  t.equal(await page.getAttribute('#api-result', 'data-bearer'), 'true')
  t.equal(await page.getAttribute('#api-result', 'data-cookies'), 'false')
  t.match(await page.textContent('#api-bearer'), /yes/)
  t.match(await page.textContent('#api-cookies'), /none/)
  t.notMatch(await page.textContent('#api-bearer-expiry'), /—/, 'the token expiry is shown')
  const call = seen.slice(before).find(r => r.path === '/api/echo')
  t.equal(call?.status, 200)
  t.equal(call?.sessionCookie, true, 'the browser sent the cookie to the gateway')
  const html = await page.content()
  for (const token of await sessionTokens()) t.notOk(html.includes(token), 'no token in the page')
  t.notMatch(html, /[Bb]earer eyJ/, 'the token itself is never shown')

  await page.click('#post-api')
  await page.waitForFunction(() => document.getElementById('api-request')?.textContent?.includes('upstream saw POST') === true, null, { timeout: WAIT_MS })
  t.equal(await page.getAttribute('#api-result', 'data-bearer'), 'true', 'POST with X-CSRF passes')
  await screenshot(page, '04-api-call')
})

t.test('the token is refreshed while the page stays open and the countdown shows the new expiry', async t => {
  const first = await page.getAttribute('#token-countdown', 'data-expires-at')
  const refreshesBefore = stack.idp.stats.tokenCalls.refresh_token ?? 0
  // Event-driven: the page re-reads GET /session when the token is due; wait for the DOM to show the new expiry.
  await page.waitForFunction(
    previous => {
      const countdown = document.getElementById('token-countdown')
      const note = document.getElementById('refresh-note')
      return countdown?.dataset.expiresAt !== previous && note?.hidden === false && Number(note.dataset.count) >= 1
    },
    first,
    { timeout: WAIT_MS }
  )
  const next = await page.getAttribute('#token-countdown', 'data-expires-at')
  t.ok(first !== null && next !== null && Date.parse(next) > Date.parse(first), `new expiry ${next} after ${first}`)
  t.ok((stack.idp.stats.tokenCalls.refresh_token ?? 0) > refreshesBefore, 'the IdP saw a refresh_token grant')
  t.match(await page.textContent('#refresh-note'), /refreshed the access token/)
  t.equal(await state(), 'signed-in', 'still signed in')
  await screenshot(page, '05-token-refreshed')
})

t.test('sign-out revokes, clears the cookie and shows the form again', async t => {
  const revocations = stack.idp.stats.revocations
  await page.click('#logout')
  await waitForState('signed-out')
  await page.waitForSelector('#message[data-kind="info"]', { timeout: WAIT_MS })
  t.match(await page.textContent('#message'), /Signed out/)
  t.notOk((await context.cookies(stack.url)).some(c => c.name === COOKIE_NAME), 'the cookie is gone')
  t.equal(stack.idp.stats.revocations, revocations + 1, 'the refresh token was revoked at the IdP')
  const logout = seen.find(r => r.method === 'DELETE' && r.path === '/session')
  t.equal(logout?.status, 204)
  const status = await page.evaluate(async () => (await fetch('/session', { credentials: 'include' })).status)
  t.equal(status, 401, 'GET /session is 401 afterwards')
  await screenshot(page, '06-signed-out')
})

t.test('no script error and no CSP violation on the way', async t => {
  t.same(pageErrors, [])
})
