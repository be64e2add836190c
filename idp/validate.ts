/** Small guards for data that enters as `unknown` (JSON files, request bodies). */

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function optionalString (obj: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new TypeError(`${where}: "${key}" must be a string`)
  return v
}

export function requiredString (obj: Record<string, unknown>, key: string, where: string): string {
  const v = optionalString(obj, key, where)
  if (v === undefined || v === '') throw new TypeError(`${where}: "${key}" is required`)
  return v
}

export function optionalBoolean (obj: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const v = obj[key]
  if (v === undefined) return undefined
  if (typeof v !== 'boolean') throw new TypeError(`${where}: "${key}" must be a boolean`)
  return v
}
