/**
 * The documentation keeps up with the code: every environment variable the configuration reads has a row in
 * docs/configuration.md, and every error code of the catalog a row in the README's error table.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadConfig, type Env } from '../fastify.config.js'
import { ERROR_CATALOG } from '../src/errors.js'
import { MFA_STATUS_CATALOG } from '../src/mfa/mfa-status.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const read = (path: string): string => readFileSync(ROOT + path, 'utf8')

/** The names in the first column of a Markdown table's rows: `| \`NAME\` | …`. */
function firstColumnNames (markdown: string): Set<string> {
  const names = new Set<string>()
  for (const match of markdown.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)) if (match[1] !== undefined) names.add(match[1])
  return names
}

/** Every variable name that fastify.config.ts passes as a quoted literal to a reader call (read.x('NAME'), f(read, 'NAME')). */
function namesInSource (): Set<string> {
  const source = read('fastify.config.ts')
  const names = new Set<string>()
  for (const match of source.matchAll(/\(\s*(?:read\s*,\s*)?'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) if (match[1] !== undefined) names.add(match[1])
  return names
}

/** The names loadConfig actually looks up, over configurations that take each conditional branch. */
function namesRead (): Set<string> {
  const seen = new Set<string>()
  const base: Env = { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'cid', AUTH0_CLIENT_SECRET: 'c', SESSION_SECRET: 's'.repeat(32) }
  const key = Buffer.alloc(32, 1).toString('base64url')
  const variants: Env[] = [
    {},
    { SESSION_STORE: 'redis', REDIS_URL: 'redis://127.0.0.1:6379', SESSION_ENCRYPTION_KEY: key },
    { SESSION_STORE: 'redis', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'm', SESSION_ENCRYPTION_KEY: key },
    { ADMIN_API: 'on', ADMIN_TOKEN: 't'.repeat(32) },
    { AUTH0_DOMAIN: undefined, OIDC_ISSUER: 'https://idp.example.com', OIDC_AUTH0_EXTENSIONS: 'on' }
  ]
  for (const variant of variants) {
    const env = new Proxy({ ...base, ...variant }, {
      get (target, name) {
        if (typeof name === 'string') seen.add(name)
        return target[name as keyof typeof target]
      }
    })
    loadConfig(env)
  }
  return seen
}

t.test('every environment variable the configuration reads is in docs/configuration.md', async t => {
  const documented = firstColumnNames(read('docs/configuration.md'))
  const names = new Set([...namesInSource(), ...namesRead()])
  t.ok(names.size > 40, `found the variables (${names.size})`)
  const missing = [...names].filter(name => !documented.has(name))
  t.same(missing, [], 'undocumented variables')
})

t.test('every error code of the catalog is in the README\'s error table', async t => {
  const readme = read('README.md')
  const rows = new Set([...readme.matchAll(/^\|\s*\d{3}\s*\|\s*`([a-z_]+)`\s*\|/gm)].map(match => match[1]))
  const missing = Object.keys(ERROR_CATALOG).filter(code => !rows.has(code))
  t.same(missing, [], 'codes without a row')
  const unknown = [...rows].filter(code => code !== undefined && !(code in ERROR_CATALOG))
  t.same(unknown, [], 'rows naming no catalog code')
})

t.test('every MFA status (202) has a row in the README\'s MFA status table', async t => {
  const readme = read('README.md')
  const rows = new Set([...readme.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*202\s*\|/gm)].map(match => match[1]))
  t.same(Object.keys(MFA_STATUS_CATALOG).filter(code => !rows.has(code)), [], 'statuses without a row')
  t.same([...rows].filter(code => code !== undefined && !(code in MFA_STATUS_CATALOG)), [], 'rows naming no status')
})

t.test('every page the README links to in docs/ exists', async t => {
  const readme = read('README.md')
  const pages = [...readme.matchAll(/\]\((docs\/[a-z-]+\.md)(?:#[a-z0-9-]+)?\)/g)].map(match => match[1] ?? '')
  t.ok(pages.length >= 10, 'the README links to the docs pages')
  for (const page of new Set(pages)) t.doesNotThrow(() => read(page), page)
})
