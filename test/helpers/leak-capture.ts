/**
 * The capture side of the suite-wide leak check (issue #10): "no password, token, client secret or session id
 * appears in any log line or response".
 *
 * Every test process has one capture (this module's state). The helpers feed it:
 *   - texts:   every log line of every `buildTestApp` gateway (logging is raised to `trace` for gateways whose test
 *              does not look at the logs itself), and every response's headers and non-streamed body;
 *   - secrets: every secret the helpers know: demo passwords and client secrets (idp/users.json, clients.json), the
 *              gateway's configured secrets, validated login/MFA passwords and codes, every token in an IdP answer the
 *              gateway's fetch saw, every form value the IdP received, and every session id / signed cookie value /
 *              storage key the gateway handed out.
 *
 * Two checks read it:
 *   1. At exit, each test process scans its own texts for its own secrets; a hit prints which kind of secret leaked
 *      where (never the secret) and sets exit code 1, so the test file fails. Works for a file run alone.
 *   2. Under `npm test` (npm_lifecycle_event=test) or with BFF_LEAK_DIR set, each process also writes its capture to
 *      files of its own (`<test file>.<pid>.<random>.{secrets.json,texts.txt}`) in that directory (default
 *      `.tap/leak-check/`), so parallel processes never share a file; `pretest` empties the directory and `posttest`
 *      (test/helpers/leak-check.ts) scans every process's texts for every process's secrets, and fails when nothing
 *      was captured at all (a broken capture must not pass silently).
 *
 * Documented exceptions, which are not captured as texts: the Set-Cookie header (the one place the signed session id
 * belongs), the `session_handle` of a header-session login answer (same value, by design), and streamed bodies (the
 * proxied upstream answers: a test upstream echoes the Bearer token it received). The new recovery code an MFA
 * recovery login returns is shown to the user by design, so it is not recorded as a secret (the one sent is).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export type SecretKind =
  | 'password' | 'client secret' | 'client assertion' | 'session secret' | 'encryption key' | 'redis password'
  | 'access token' | 'refresh token' | 'id token' | 'mfa token' | 'oob code' | 'recovery code'
  | 'session id' | 'signed cookie' | 'session storage key'

/** Shorter values are not tracked: they could appear in a log by chance (and no generated secret is that short). */
export const MIN_SECRET_LENGTH = 12
const KEY_LENGTH = 8

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const DEFAULT_LEAK_DIR = join(ROOT, '.tap', 'leak-check')

/** The directory this process writes its capture to, or undefined (self-check only). */
export function leakDir (env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BFF_LEAK_DIR !== undefined && env.BFF_LEAK_DIR !== '') return env.BFF_LEAK_DIR
  return env.npm_lifecycle_event === 'test' ? DEFAULT_LEAK_DIR : undefined
}

const enabled = process.env.BFF_LEAK_CHECK !== 'off'
const secrets = new Map<string, SecretKind>()
const texts = new Map<string, string[]>()

/** Remembers a secret (ignored when not a string or too short to search for without false alarms). */
export function recordSecret (kind: SecretKind, value: unknown): void {
  if (!enabled || typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return
  // A generated or fuzzed "password" made of one or two repeated characters is no secret worth the false alarms.
  if (new Set(value).size < 4) return
  if (!secrets.has(value)) secrets.set(value, kind)
}

/** Remembers text the outside world could see: a log line, a response. `source` says which (e.g. `gateway log`). */
export function recordText (source: string, text: string): void {
  if (!enabled || text === '') return
  let list = texts.get(source)
  if (list === undefined) {
    list = []
    texts.set(source, list)
  }
  list.push(text)
}

/** The forms a secret may take in a text: as is, URL-encoded, JSON-escaped. */
function variants (secret: string): string[] {
  const out = new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])
  return [...out]
}

/**
 * Which kinds of secret occur in `text`, and how often. An index on each variant's first 8 characters makes this one
 * pass over the text (the naive way, every secret × the whole text, takes minutes for a suite's worth).
 */
export function findLeaks (secretList: Iterable<readonly [string, SecretKind]>, text: string): Map<SecretKind, number> {
  const index = new Map<string, Array<{ value: string, kind: SecretKind }>>()
  for (const [secret, kind] of secretList) {
    for (const value of variants(secret)) {
      const key = value.slice(0, KEY_LENGTH)
      const bucket = index.get(key)
      if (bucket === undefined) index.set(key, [{ value, kind }])
      else bucket.push({ value, kind })
    }
  }
  const found = new Map<SecretKind, number>()
  if (index.size === 0) return found
  for (let i = 0; i + KEY_LENGTH <= text.length; i++) {
    const bucket = index.get(text.slice(i, i + KEY_LENGTH))
    if (bucket === undefined) continue
    for (const { value, kind } of bucket) {
      if (text.startsWith(value, i)) found.set(kind, (found.get(kind) ?? 0) + 1)
    }
  }
  return found
}

/** What this process captured so far (for tests of the capture itself). */
export function captured (): { secrets: number, sources: string[] } {
  return { secrets: secrets.size, sources: [...texts.keys()] }
}

function testFileName (): string {
  return basename(process.argv[1] ?? 'unknown').replace(/[^\w.-]/g, '_')
}

function atExit (): void {
  if (!enabled || (secrets.size === 0 && texts.size === 0)) return
  const file = testFileName()
  const problems: string[] = []
  for (const [source, list] of texts) {
    for (const [kind, count] of findLeaks(secrets, list.join('\n'))) problems.push(`${kind} ×${count} in ${source}`)
  }
  if (problems.length > 0) {
    process.stderr.write(`leak check (${file}): secrets found where nobody may see them:\n${problems.map(p => `  - ${p}\n`).join('')}`)
    process.exitCode = 1
  }
  const dir = leakDir()
  if (dir === undefined) return
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stem = join(dir, `${file}.${process.pid}.${randomBytes(4).toString('hex')}`)
  const body = [...texts].map(([source, list]) => `\u0000source ${source}\n${list.join('\n')}\n`).join('')
  writeFileSync(`${stem}.texts.txt`, body, { mode: 0o600 })
  writeFileSync(`${stem}.secrets.json`, JSON.stringify({ file, secrets: [...secrets] }), { mode: 0o600 })
}

process.on('exit', atExit)
