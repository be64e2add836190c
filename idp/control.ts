import type { CallLog, IdpStats, RecordedCall } from './call-log.js'
import type { IdpContext } from './context.js'
import type { Endpoint, FaultSpec } from './faults.js'
import type { HoldGate } from './hold.js'

/** The test-facing control surface; the same operations are served under /__idp/* when testApi is on. */
export interface IdpControl {
  /** Live counters (the object is mutated in place, never replaced). */
  readonly stats: IdpStats
  /** The last 500 recorded calls at the IdP endpoints, oldest first. */
  readonly calls: RecordedCall[]
  resetStats (): void
  clearCalls (): void
  setFault (spec: FaultSpec): void
  clearFaults (): void
  /** Holds calls at an endpoint (after they are recorded in stats) until release(). */
  hold (endpoint: Endpoint): HoldGate
  rotateKeys (opts?: { keepOld?: boolean }): Promise<{ kid: string }>
  /** Revokes every refresh-token family of the user. Returns how many. */
  revokeUserSessions (userId: string): number
  /** Blocks or unblocks a user; throws for an unknown user id. */
  blockUser (userId: string, blocked?: boolean): void
}

export function createControl (ctx: IdpContext, log: CallLog): IdpControl {
  return {
    stats: log.stats,
    calls: log.calls,
    resetStats: () => { log.resetStats() },
    clearCalls: () => { log.clearCalls() },
    setFault: spec => { ctx.faults.set(spec) },
    clearFaults: () => { ctx.faults.clear() },
    hold: endpoint => ctx.holds.hold(endpoint),
    async rotateKeys (opts = {}) {
      const key = await ctx.keys.rotate(opts)
      return { kid: key.kid }
    },
    revokeUserSessions: userId => ctx.refresh.revokeUser(userId),
    blockUser (userId, blocked = true) {
      if (!ctx.directory.setBlocked(userId, blocked)) throw new Error(`idp: unknown user ${userId}`)
    }
  }
}
