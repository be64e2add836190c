import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SRC = join(ROOT, 'src')

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? sources(path) : entry.name.endsWith('.ts') ? [path] : []
  })
}

// Issue #16: src/ is the core that is unit-testable without a server, so it imports no Fastify (type-only imports
// included) and nothing from above src/ (fastify.config.ts, plugins/, routes/, app.ts).
t.test('src/ imports neither Fastify nor anything outside src/', async t => {
  const offences: string[] = []
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'/gm)) {
      const target = match[1] ?? ''
      const name = relative(ROOT, file)
      if (target === 'fastify' || target.startsWith('fastify/') || target === 'fastify-plugin' || target.startsWith('@fastify/')) offences.push(`${name} imports ${target}`)
      if (target.startsWith('.') && relative(SRC, resolve(dirname(file), target)).startsWith('..')) offences.push(`${name} imports ${target}`)
    }
  }
  t.same(offences, [])
})
