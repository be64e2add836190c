/**
 * The suite-wide leak check (see leak-capture.ts), run by npm around `npm test`:
 *   node --import tsx test/helpers/leak-check.ts reset   (pretest)  empties the capture directory
 *   node --import tsx test/helpers/leak-check.ts check   (posttest) scans every captured text of every test process
 *                                                                   for every recorded secret of every process
 * Prints which kind of secret leaked in which test file's logs or responses, never the secret itself.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { findLeaks, leakDir, DEFAULT_LEAK_DIR, type SecretKind } from './leak-capture.js'

const dir = leakDir() ?? DEFAULT_LEAK_DIR
const command = process.argv[2] ?? 'check'

if (command === 'reset') {
  rmSync(dir, { recursive: true, force: true })
} else if (command === 'check') {
  let files: string[] = []
  try { files = readdirSync(dir) } catch {}
  const secretFiles = files.filter(name => name.endsWith('.secrets.json'))
  const textFiles = files.filter(name => name.endsWith('.texts.txt'))
  if (secretFiles.length === 0 || textFiles.length === 0) {
    process.stderr.write(`leak check: nothing was captured in ${dir}: the capture is broken (test/helpers/leak-capture.ts), so nothing can be said about leaks\n`)
    process.exit(1)
  }
  const all = new Map<string, SecretKind>()
  for (const name of secretFiles) {
    const parsed = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { secrets: Array<[string, SecretKind]> }
    for (const [value, kind] of parsed.secrets) if (!all.has(value)) all.set(value, kind)
  }
  const problems: string[] = []
  let bytes = 0
  for (const name of textFiles) {
    const text = readFileSync(join(dir, name), 'utf8')
    bytes += text.length
    // One file holds several sources, each introduced by a NUL-prefixed line.
    for (const part of text.split('\u0000source ').filter(p => p !== '')) {
      const newline = part.indexOf('\n')
      const source = part.slice(0, newline)
      for (const [kind, count] of findLeaks(all, part.slice(newline + 1))) {
        problems.push(`${kind} ×${count} in ${name.split('.').slice(0, -4).join('.') || name}: ${source}`)
      }
    }
  }
  if (problems.length > 0) {
    process.stderr.write(`leak check: secrets found in captured logs or responses:\n${problems.map(p => `  - ${p}\n`).join('')}`)
    process.exit(1)
  }
  process.stdout.write(`leak check: ${all.size} secrets searched for in ${(bytes / 1e6).toFixed(1)} MB of logs and responses from ${textFiles.length} test processes: none found\n`)
} else {
  process.stderr.write('usage: leak-check.ts reset|check\n')
  process.exit(2)
}
