/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per owner (a package under
 * node_modules, node's internals, or a file of this project), so a miss can be explained by what costs what.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
}
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileEntry { name: string, selfMs: number, percent: number }
export interface ProfileSummary { file: string, totalMs: number, topFunctions: ProfileEntry[], byOwner: ProfileEntry[] }

/** Who a frame belongs to: `npm:fastify`, `node:internal`, `gateway:plugins/refresh.ts`, or `(idle)`-style pseudo frames. */
export function ownerOf (url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (nm?.[1] !== undefined) return `npm:${nm[1]}`
  if (url.startsWith('node:')) return 'node:internal'
  const project = /\/(app\.ts|fastify\.config\.ts|(?:src|plugins|routes|idp|bench)\/.*)$/.exec(url)
  return project?.[1] !== undefined ? `gateway:${project[1]}` : url
}

export function summariseProfile (file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    const delta = profile.timeDeltas[i] ?? 0
    if (id !== undefined) selfUs.set(id, (selfUs.get(id) ?? 0) + delta)
  }
  const functions = new Map<string, number>()
  const owners = new Map<string, number>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    if (frame.functionName === '(idle)') continue
    totalUs += us
    const owner = ownerOf(frame.url, frame.functionName)
    const name = `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${owner}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`
    functions.set(name, (functions.get(name) ?? 0) + us)
    owners.set(owner, (owners.get(owner) ?? 0) + us)
  }
  const entries = (map: Map<string, number>, limit: number): ProfileEntry[] => [...map]
    .sort((a, b) => b[1] - a[1]).slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, percent: Math.round(us / totalUs * 1000) / 10 }))
  return { file, totalMs: Math.round(totalUs / 1000), topFunctions: entries(functions, top), byOwner: entries(owners, 15) }
}

export function formatProfile (summary: ProfileSummary): string {
  const lines = [`${summary.file}: ${summary.totalMs} ms of non-idle samples`, '  by owner (self time):']
  for (const entry of summary.byOwner) lines.push(`    ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(1).padStart(9)} ms  ${entry.name}`)
  lines.push('  top functions (self time):')
  for (const entry of summary.topFunctions) lines.push(`    ${entry.percent.toFixed(1).padStart(5)}%  ${entry.selfMs.toFixed(1).padStart(9)} ms  ${entry.name}`)
  return lines.join('\n')
}

// `node --import tsx bench/lib/profile-summary.ts FILE...` prints summaries of existing profiles.
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) {
  for (const file of process.argv.slice(2)) process.stdout.write(`${formatProfile(summariseProfile(file))}\n`)
}
