/** Prometheus text-format helpers for the ops tests (not a test file). */

export interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses the exposition format: every sample line, comments skipped. */
export function parseProm (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] ?? ''] = pair[2] ?? ''
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the one sample with this name and (at least) these labels; 0 when there is none. */
export function value (samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(sample => sample.name === name && Object.entries(labels).every(([key, v]) => sample.labels[key] === v))
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value ?? 0
}
