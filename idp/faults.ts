import { GRANT_PASSWORD_REALM } from './types.js'
import type { IdTokenTamper } from './tokens.js'
import { ID_TOKEN_TAMPERS } from './tokens.js'
import { isRecord } from './validate.js'

export type Endpoint = 'token' | 'revoke' | 'userinfo' | 'jwks' | 'discovery' | 'mfa'
export const ENDPOINTS: readonly Endpoint[] = ['token', 'revoke', 'userinfo', 'jwks', 'discovery', 'mfa']

export interface RateLimitFault {
  limit?: number
  remaining?: number
  /** Seconds from now until x-ratelimit-reset (default 60). */
  resetInSec?: number
  /** Adds `Retry-After` with this many seconds. */
  retryAfterSec?: number
}

export interface FaultSpec {
  endpoint: Endpoint | '*'
  /** Only calls with this grant_type (`password-realm` is accepted as a short name). Token endpoint only. */
  grantType?: string
  /** Applies to the next N matching calls; omitted = until cleared. */
  times?: number
  /** Delay before answering (combined with the other kinds, or alone). */
  latencyMs?: number
  /** Reply with this status and body (string sent raw, anything else as JSON) and headers. */
  status?: number
  body?: unknown
  headers?: Record<string, string>
  /** 429 too_many_requests with x-ratelimit-* headers. */
  rateLimit?: RateLimitFault | true
  /** Destroy the connection instead of answering. */
  destroySocket?: boolean
  /** Tamper with the id_token of the (otherwise normal) token response. */
  idToken?: IdTokenTamper
}

interface ActiveFault { spec: FaultSpec, remaining: number }

export interface FaultStore {
  set (spec: FaultSpec): void
  clear (): void
  /** The first fault matching the call, consuming one of its uses. */
  take (endpoint: Endpoint, grantType: string | undefined): FaultSpec | undefined
  list (): FaultSpec[]
}

function grantMatches (wanted: string | undefined, actual: string | undefined): boolean {
  if (wanted === undefined) return true
  if (wanted === 'password-realm') return actual === GRANT_PASSWORD_REALM
  return wanted === actual
}

export function createFaultStore (): FaultStore {
  let faults: ActiveFault[] = []
  return {
    set (spec) { faults.push({ spec, remaining: spec.times ?? Infinity }) },
    clear () { faults = [] },
    take (endpoint, grantType) {
      const index = faults.findIndex(f => (f.spec.endpoint === '*' || f.spec.endpoint === endpoint) && grantMatches(f.spec.grantType, grantType))
      const found = faults[index]
      if (found === undefined) return undefined
      found.remaining -= 1
      if (found.remaining <= 0) faults.splice(index, 1)
      return found.spec
    },
    list: () => faults.map(f => f.spec)
  }
}

function isStringRecord (v: unknown): v is Record<string, string> {
  return isRecord(v) && Object.values(v).every(x => typeof x === 'string')
}

const optNumber = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0)

/** Validates a fault spec received over HTTP. Throws TypeError with a readable message. */
export function parseFaultSpec (input: unknown): FaultSpec {
  if (!isRecord(input)) throw new TypeError('fault: expected an object')
  const { endpoint, grantType, times, latencyMs, status, headers, rateLimit, destroySocket, idToken } = input
  if (endpoint !== '*' && !ENDPOINTS.some(e => e === endpoint)) throw new TypeError(`fault: endpoint must be one of ${ENDPOINTS.join(', ')}, *`)
  if (grantType !== undefined && typeof grantType !== 'string') throw new TypeError('fault: grantType must be a string')
  if (!optNumber(times) || !optNumber(latencyMs)) throw new TypeError('fault: times and latencyMs must be non-negative numbers')
  if (status !== undefined && (typeof status !== 'number' || status < 100 || status > 599)) throw new TypeError('fault: status must be 100-599')
  if (headers !== undefined && !isStringRecord(headers)) throw new TypeError('fault: headers must map strings to strings')
  if (rateLimit !== undefined && rateLimit !== true && !isRecord(rateLimit)) throw new TypeError('fault: rateLimit must be true or an object')
  if (destroySocket !== undefined && typeof destroySocket !== 'boolean') throw new TypeError('fault: destroySocket must be a boolean')
  if (idToken !== undefined && !ID_TOKEN_TAMPERS.some(x => x === idToken)) throw new TypeError(`fault: idToken must be one of ${ID_TOKEN_TAMPERS.join(', ')}`)
  // The checks above establish every field's type; the record is the validated spec.
  return input as unknown as FaultSpec
}
