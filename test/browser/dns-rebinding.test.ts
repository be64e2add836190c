/**
 * DNS rebinding (issue #15, item 9), in a real Chromium: the name `rebind.test` resolves to 127.0.0.1, where the demo
 * gateway listens, as a rebinding attacker's domain would after its DNS answer changes. Its pages and calls then have
 * `Host: rebind.test:<port>` and `Origin: http://rebind.test:<port>`, which agree, so a Host-derived same-origin test
 * passes them. Demo mode sets PUBLIC_ORIGIN, so the gateway refuses that Host with 421. The control: the same stack
 * with PUBLIC_ORIGIN cleared serves the rebound page.
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { startDemoStack, type DemoStack } from '../../demo/stack.js'
import { launchChromium, screenshot } from './browser.js'

const REBIND = 'rebind.test'
const browser = await launchChromium(t, [`--host-resolver-rules=MAP ${REBIND} 127.0.0.1`])

/** What a script on the page reads back from the gateway (status and error code), same origin. */
async function call (page: Page, path: string): Promise<{ status: number, code: string | undefined }> {
  return await page.evaluate(async (target: string) => {
    const res = await fetch(target, { credentials: 'include' })
    const body = await res.json().catch(() => ({})) as { code?: string }
    return { status: res.status, code: body.code }
  }, path)
}

/** The stack's URL under the rebound name. */
function rebound (stack: DemoStack): string {
  return stack.url.replace('127.0.0.1', REBIND)
}

t.test('demo mode: a page reached under a rebound name gets 421 misdirected_request, at every route', async t => {
  const stack = await startDemoStack({ demoPage: true, env: { LOG_LEVEL: 'silent' } })
  t.teardown(async () => { await stack.close() })
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()

  const own = await page.goto(`${stack.url}/`)
  t.equal(own?.status(), 200, 'the demo page at 127.0.0.1')
  t.equal((await page.goto(stack.url.replace('127.0.0.1', 'localhost') + '/'))?.status(), 200, 'and at localhost (both in PUBLIC_ORIGIN)')

  const attacker = rebound(stack)
  const refused = await page.goto(`${attacker}/`)
  t.equal(refused?.status(), 421, 'the rebound page is refused')
  t.match(JSON.parse(await page.innerText('body')), { code: 'misdirected_request' })
  await screenshot(page, '09-dns-rebinding-refused')
  for (const path of ['/session', '/api/echo', '/session/all']) t.same(await call(page, path), { status: 421, code: 'misdirected_request' }, path)
})

t.test('control: without PUBLIC_ORIGIN the rebound page is served and its calls reach the gateway', async t => {
  const stack = await startDemoStack({ demoPage: true, env: { LOG_LEVEL: 'silent', PUBLIC_ORIGIN: '' } })
  t.teardown(async () => { await stack.close() })
  const context = await browser.newContext()
  t.teardown(async () => { await context.close() })
  const page = await context.newPage()
  const served = await page.goto(`${rebound(stack)}/`)
  t.equal(served?.status(), 200, 'the Host-derived origin check let the rebound name through')
  t.same(await call(page, '/session'), { status: 401, code: 'no_session' }, 'the rebound page talks to the gateway as its own origin')
})
