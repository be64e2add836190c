/**
 * The demo page (demo mode only: registered by demo/stack.ts, never by app.ts). `GET /` serves demo/page/index.html;
 * `/demo/app.js` is demo/page/main.ts bundled with esbuild once, when the plugin loads; `/demo/style.css` and
 * `/demo/icon.svg` are static. Everything is held in memory and served with a strict Content-Security-Policy: no
 * inline script or style, and the page may only talk to the gateway itself.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply } from 'fastify'

export interface DemoPageOptions {
  /** Where index.html, style.css and main.ts live; demo/page/ by default. */
  pageDir?: URL
}

const DEFAULT_PAGE_DIR = new URL('../demo/page/', import.meta.url)

export const DEMO_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join('; ')

const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#2f5bd3"/>' +
  '<path d="M10 14v-3a6 6 0 0 1 12 0v3" fill="none" stroke="#fff" stroke-width="2.5"/><rect x="8" y="14" width="16" height="11" rx="2" fill="#fff"/></svg>'

interface Asset { type: string, body: string | Buffer }

/** The page's script: main.ts and its imports in one ES module, no source map (the demo ships its source anyway). */
async function bundle (entry: URL): Promise<string> {
  // esbuild comes with tsx (a dev dependency); only demo mode loads it.
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    legalComments: 'none'
  })
  const output = result.outputFiles[0]
  if (output === undefined) throw new Error('demo page: esbuild produced no output')
  return output.text
}

export default async function demoPageRoutes (fastify: FastifyInstance, options: DemoPageOptions = {}): Promise<void> {
  const dir = options.pageDir ?? DEFAULT_PAGE_DIR
  const [html, css, js] = await Promise.all([
    readFile(new URL('index.html', dir)),
    readFile(new URL('style.css', dir)),
    bundle(new URL('main.ts', dir))
  ])
  const assets: Record<string, Asset> = {
    '/': { type: 'text/html; charset=utf-8', body: html },
    '/demo/app.js': { type: 'text/javascript; charset=utf-8', body: js },
    '/demo/style.css': { type: 'text/css; charset=utf-8', body: css },
    '/demo/icon.svg': { type: 'image/svg+xml', body: ICON }
  }

  function send (reply: FastifyReply, asset: Asset): FastifyReply {
    return reply
      .header('content-type', asset.type)
      .header('content-security-policy', DEMO_PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .send(asset.body)
  }

  for (const [path, asset] of Object.entries(assets)) {
    fastify.get(path, { logLevel: 'warn' }, async (_request, reply) => send(reply, asset))
  }
}
