/**
 * Headless Chromium for the browser tests: Debian's `chromium` package (CI installs it in .ci/run), driven by
 * playwright-core — no browser download. Missing Chromium is a test failure with a clear message, never a skip.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser, type Page } from 'playwright-core'

/** `CHROMIUM_PATH` may point elsewhere on a developer machine; CI uses Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOT_DIR = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url))
/** Longest wait for a page condition; everything here happens in well under a second except token refresh. */
export const WAIT_MS = 15_000

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic'
]

interface Teardown { teardown (fn: () => unknown): void }

/**
 * One browser per test file, closed when the file's test ends. Playwright gives every launch a fresh temporary
 * profile (`--user-data-dir`) and deletes it on close; each test uses its own context (cookie jar) on top.
 * `extraFlags` go after the defaults (e.g. `--host-resolver-rules` to point a name at 127.0.0.1).
 */
export async function launchChromium (t: Teardown, extraFlags: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: the browser tests need it. Install Debian's package: ` +
      'apt-get update && apt-get install -y --no-install-recommends chromium (.ci/run does this), or set CHROMIUM_PATH.')
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...FLAGS, ...extraFlags], timeout: 30_000 })
  t.teardown(async () => { await browser.close() })
  return browser
}

export async function screenshot (page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true })
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true })
}

export interface SeenRequest {
  method: string
  path: string
  origin: string | undefined
  /** The request carried the session cookie. */
  sessionCookie: boolean
  status: number
  code: string | undefined
}

/** Records what the gateway received and answered (register from `beforeListen`, before the routes load). */
export function recordRequests (gateway: FastifyInstance, cookieName = '__Host-bff-session'): SeenRequest[] {
  const seen: SeenRequest[] = []
  gateway.addHook('onSend', async (request, reply, payload) => {
    let code: string | undefined
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      try {
        const body = JSON.parse(payload) as { code?: unknown }
        if (typeof body.code === 'string') code = body.code
      } catch {}
    }
    seen.push({
      method: request.method,
      path: request.url.split('?', 1)[0] ?? '',
      origin: request.headers.origin,
      sessionCookie: (request.headers.cookie ?? '').includes(`${cookieName}=`),
      status: reply.statusCode,
      code
    })
    return payload
  })
  return seen
}
