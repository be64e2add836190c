import type { CallLog, IdpStats, RecordedCall } from './call-log.js'
import type { IdpContext } from './context.js'
import type { Endpoint, FaultSpec } from './faults.js'
import type { HoldGate } from './hold.js'
import type { IdpMessage } from './types.js'

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
  /** Approves the pending push of a user (the newest) or of an oob_code; throws when there is none. */
  approvePush (userIdOrOobCode: string): void
  /** Rejects it, as the user tapping "deny" would. */
  rejectPush (userIdOrOobCode: string): void
  /** The binding code sent for the newest SMS/voice/email challenge of a user, or for an oob_code. */
  bindingCode (userIdOrOobCode: string): string | undefined
  /** The user's current recovery code (it changes on every use). */
  recoveryCode (userId: string): string | undefined
  /** Out-of-band messages "sent" so far, oldest first (the last 100). */
  readonly messages: IdpMessage[]
  /** Lifts brute-force blocks: one user id (or unknown login `realm:login`) on every IP, or all. */
  clearBruteForce (identifier?: string): void
}

export function createControl (ctx: IdpContext, log: CallLog, messages: IdpMessage[]): IdpControl {
  function pushFor (key: string): NonNullable<ReturnType<IdpContext['mfa']['findOob']>> {
    const oob = ctx.mfa.findOob(key)
    if (oob === undefined || oob.bindingCode !== undefined) throw new Error(`idp: no push challenge for ${key}`)
    return oob
  }
  return {
    messages,
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
    },
    approvePush (key) { pushFor(key).state = 'approved' },
    rejectPush (key) { pushFor(key).state = 'rejected' },
    bindingCode: key => ctx.mfa.findOob(key)?.bindingCode,
    recoveryCode: userId => ctx.directory.byId(userId)?.mfa?.authenticators.find(a => a.authenticator_type === 'recovery-code')?.code,
    clearBruteForce (identifier) { ctx.bruteForce.clear(identifier) }
  }
}
