const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Parses "90", "90s", "30m", "12h", "1d" or "500ms" into milliseconds. A bare number is seconds.
 * Returns undefined for anything else, so the caller can name the variable in its error.
 */
export function parseDuration (text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text)
  if (match === null) return undefined
  const unit = UNITS[match[2] ?? 's']
  /* c8 ignore next */
  if (unit === undefined) return undefined
  return Math.round(Number(match[1]) * unit)
}
