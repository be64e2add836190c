import type { TokenEndpointAuthMethod } from './types.js'

export type ClientAuthMethodSeen = TokenEndpointAuthMethod | 'invalid'

export interface RecordedCall {
  path: string
  method: string
  grantType?: string
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>
  /** The parsed body, secrets included: this is a test tool. */
  form: Record<string, string>
  clientAuthMethod?: ClientAuthMethodSeen
  forwardedFor?: string
  effectiveIp: string
  /** 0 when the socket was destroyed by a fault. */
  status: number
}

export interface IdpStats {
  tokenCalls: Record<string, number> & { total: number }
  reuseDetections: number
  revocations: number
  revokeCalls: number
  userinfoCalls: number
}

export interface CallLog {
  readonly calls: RecordedCall[]
  readonly stats: IdpStats
  record (call: RecordedCall): void
  countTokenCall (grantType: string | undefined): void
  resetStats (): void
  clearCalls (): void
}

export const MAX_RECORDED_CALLS = 500

function emptyStats (): IdpStats {
  return { tokenCalls: { total: 0 }, reuseDetections: 0, revocations: 0, revokeCalls: 0, userinfoCalls: 0 }
}

export function createCallLog (): CallLog {
  const calls: RecordedCall[] = []
  const stats = emptyStats()
  return {
    calls,
    stats,
    record (call) {
      calls.push(call)
      if (calls.length > MAX_RECORDED_CALLS) calls.splice(0, calls.length - MAX_RECORDED_CALLS)
    },
    countTokenCall (grantType) {
      const key = grantType ?? '(none)'
      stats.tokenCalls[key] = (stats.tokenCalls[key] ?? 0) + 1
      stats.tokenCalls.total += 1
    },
    // Mutate in place so references held by tests stay live.
    resetStats () {
      for (const key of Object.keys(stats.tokenCalls)) delete stats.tokenCalls[key]
      stats.tokenCalls.total = 0
      stats.reuseDetections = 0
      stats.revocations = 0
      stats.revokeCalls = 0
      stats.userinfoCalls = 0
    },
    clearCalls () { calls.length = 0 }
  }
}
