/** Shared checks of the fault and hostile-input tests: the one error shape, with a documented code. */
import type { LightMyRequestResponse } from 'fastify'
import { ERROR_CATALOG } from '../../src/errors.js'

export const ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(ERROR_CATALOG))

/** What tap's `t` offers that these checks use. */
export interface Asserts {
  equal: (found: unknown, wanted: unknown, message: string) => unknown
}

/** `{ statusCode, code, error, message }` and nothing else; code in ERROR_CATALOG; statusCode = the HTTP status. */
export function errorShapeProblem (res: { statusCode: number, body: string, headers: Record<string, unknown> }): string | undefined {
  let body: unknown
  try { body = JSON.parse(res.body) } catch { return `not JSON: ${res.body.slice(0, 120)}` }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'not an object'
  const fields = body as Record<string, unknown>
  const keys = Object.keys(fields).sort().join(',')
  if (keys !== 'code,error,message,statusCode') return `fields ${keys}`
  if (typeof fields.code !== 'string' || !ERROR_CODES.has(fields.code)) return `undocumented code ${String(fields.code)}`
  if (fields.statusCode !== res.statusCode) return `statusCode ${String(fields.statusCode)} != ${res.statusCode}`
  if (typeof fields.error !== 'string' || typeof fields.message !== 'string') return 'error/message not strings'
  if (/\bat [\w.<>]+ \(|\.ts:\d+/.test(res.body)) return 'a stack trace'
  if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) return `content-type ${String(res.headers['content-type'])}`
  return undefined
}

export function assertErrorShape (t: Asserts, res: LightMyRequestResponse): void {
  const problem = errorShapeProblem(res)
  t.equal(problem, undefined, `error shape${problem === undefined ? '' : `: ${problem}`}`)
}
