import { randomBytes, randomInt, timingSafeEqual, createHash } from 'node:crypto'
import type { Clock } from '../src/clock.js'
import type { DirectoryUser } from './directory.js'
import { OAuthError } from './errors.js'
import type { AuthenticatorRecord, IdpMessage } from './types.js'

/** What an mfa_token stands for: a password login that still needs its second factor. */
export interface MfaTransaction {
  token: string
  userId: string
  clientId: string
  scopes: readonly string[]
  audience: string | undefined
  expiresAtMs: number
}

/** One out-of-band challenge (push, or a binding code sent by SMS/voice/email). */
export interface OobTransaction {
  oobCode: string
  mfaToken: string
  userId: string
  authenticatorId: string
  channel: NonNullable<AuthenticatorRecord['oob_channel']>
  /** Set for sms/voice/email: the code the user must type. Push has none. */
  bindingCode: string | undefined
  state: 'pending' | 'approved' | 'rejected'
  lastPollMs: number | undefined
}

export interface MfaStore {
  /** A new mfa_token for a user whose password was right. */
  issue (input: Omit<MfaTransaction, 'token' | 'expiresAtMs'>): MfaTransaction
  /** The live transaction for an mfa_token; 401 expired_token when it expired, 403 invalid_grant when unknown. */
  check (token: string, clientId?: string): MfaTransaction
  /** The mfa_token is spent (a verify grant succeeded). */
  consume (token: string): void
  /** Starts an out-of-band challenge and "sends" its message. */
  challenge (tx: MfaTransaction, authenticator: AuthenticatorRecord): OobTransaction
  oob (oobCode: string): OobTransaction | undefined
  /** The newest oob transaction of a user, or the one with this oob_code. */
  findOob (userIdOrOobCode: string): OobTransaction | undefined
  /** Single-use TOTP: true the first time a step is used for this user. */
  useTotpStep (userId: string, step: number): boolean
}

const BINDING_CODE_DIGITS = 6

export function createMfaStore (opts: { clock: Clock, tokenTtlSec: number, send: (message: IdpMessage) => void }): MfaStore {
  const { clock } = opts
  const tokens = new Map<string, MfaTransaction>()
  const oobs = new Map<string, OobTransaction>()
  const usedSteps = new Map<string, number>()

  function sweep (): void {
    const now = clock.now()
    for (const [token, tx] of tokens) {
      // Keep expired tokens a while so they answer expired_token rather than "malformed".
      if (tx.expiresAtMs + 3_600_000 < now) tokens.delete(token)
    }
    for (const [code, oob] of oobs) if (!tokens.has(oob.mfaToken)) oobs.delete(code)
  }

  return {
    issue (input) {
      sweep()
      const tx: MfaTransaction = { ...input, token: `Fe26.2**${randomBytes(32).toString('base64url')}`, expiresAtMs: clock.now() + opts.tokenTtlSec * 1000 }
      tokens.set(tx.token, tx)
      return tx
    },

    check (token, clientId) {
      const tx = tokens.get(token)
      if (tx === undefined || (clientId !== undefined && tx.clientId !== clientId)) throw new OAuthError(403, 'invalid_grant', 'Malformed mfa_token')
      if (clock.now() >= tx.expiresAtMs) throw new OAuthError(401, 'expired_token', 'mfa_token is expired')
      return tx
    },

    consume (token) {
      tokens.delete(token)
      for (const [code, oob] of oobs) if (oob.mfaToken === token) oobs.delete(code)
    },

    challenge (tx, authenticator) {
      const channel = authenticator.oob_channel ?? 'auth0'
      const oob: OobTransaction = {
        oobCode: `Fe26.2**oob${randomBytes(24).toString('base64url')}`,
        mfaToken: tx.token,
        userId: tx.userId,
        authenticatorId: authenticator.id,
        channel,
        bindingCode: channel === 'auth0' ? undefined : String(randomInt(0, 10 ** BINDING_CODE_DIGITS)).padStart(BINDING_CODE_DIGITS, '0'),
        state: 'pending',
        lastPollMs: undefined
      }
      oobs.set(oob.oobCode, oob)
      const to = authenticator.name ?? authenticator.id
      opts.send(oob.bindingCode === undefined
        ? { kind: 'push', userId: tx.userId, oobCode: oob.oobCode, text: `push to ${to}: approve with control.approvePush('${tx.userId}') or POST /__idp/mfa/push/${encodeURIComponent(tx.userId)}/approve` }
        : { kind: channel === 'auth0' ? 'push' : channel, userId: tx.userId, oobCode: oob.oobCode, bindingCode: oob.bindingCode, text: `${channel} to ${to}: your verification code is ${oob.bindingCode}` })
      return oob
    },

    oob: code => oobs.get(code),

    findOob (key) {
      const direct = oobs.get(key)
      if (direct !== undefined) return direct
      let found: OobTransaction | undefined
      for (const oob of oobs.values()) if (oob.userId === key) found = oob
      return found
    },

    useTotpStep (userId, step) {
      if ((usedSteps.get(userId) ?? -Infinity) >= step) return false
      usedSteps.set(userId, step)
      return true
    }
  }
}

/** Constant-time comparison of two short codes (recovery and binding codes). */
export function sameCode (a: string, b: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s.replace(/\s/g, '').toUpperCase()).digest()
  return timingSafeEqual(digest(a), digest(b))
}

/** A new recovery code: 24 characters from an alphabet without look-alikes, like Auth0's. */
export function newRecoveryCode (): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'
  let code = ''
  for (let i = 0; i < 24; i++) code += alphabet[randomInt(0, alphabet.length)] ?? 'A'
  return code
}

/** The factors the user can be challenged with (`mfa_requirements.challenge`), in Auth0's vocabulary. */
export function mfaRequirements (user: DirectoryUser): Record<string, unknown> {
  const active = (user.mfa?.authenticators ?? []).filter(a => a.active !== false)
  if (active.length === 0) return { enroll: [{ type: 'otp' }, { type: 'push-notification' }, { type: 'phone' }] }
  const types = new Set(active.map(a => a.authenticator_type === 'otp'
    ? 'otp'
    : a.authenticator_type === 'recovery-code' ? 'recovery-code' : a.oob_channel === 'auth0' ? 'push-notification' : a.oob_channel === 'email' ? 'email' : 'phone'))
  return { challenge: [...types].map(type => ({ type })) }
}

/**
 * Brute-force protection (reference §7.4): N failed attempts from one IP for one user identifier block that pair
 * with 429 too_many_attempts until unblocked (the control API) — a right password included. A success resets the
 * count. The IP is the effective one: auth0-forwarded-for from a trusted client, else the socket's.
 */
export interface BruteForce {
  /** Throws 429 too_many_attempts when the pair is blocked. */
  check (ip: string, identifier: string): void
  /** Counts a failure; returns true when this one blocked the pair. */
  fail (ip: string, identifier: string): boolean
  succeed (ip: string, identifier: string): void
  /** Unblocks one identifier (every IP), or everything. */
  clear (identifier?: string): void
  readonly blocked: number
}

export const blockedError = (): OAuthError =>
  new OAuthError(429, 'too_many_attempts', 'Your account has been blocked after multiple consecutive login attempts. We\'ve sent you a notification via your preferred contact method with instructions on how to unblock it.')

export function createBruteForce (threshold: number): BruteForce {
  const failures = new Map<string, number>()
  const key = (ip: string, identifier: string): string => `${ip}\u0000${identifier.toLowerCase()}`
  return {
    check (ip, identifier) {
      if (threshold > 0 && (failures.get(key(ip, identifier)) ?? 0) >= threshold) throw blockedError()
    },
    fail (ip, identifier) {
      if (threshold <= 0) return false
      const k = key(ip, identifier)
      const count = (failures.get(k) ?? 0) + 1
      failures.set(k, count)
      return count >= threshold
    },
    succeed (ip, identifier) { failures.delete(key(ip, identifier)) },
    clear (identifier) {
      if (identifier === undefined) {
        failures.clear()
        return
      }
      for (const k of failures.keys()) if (k.endsWith(`\u0000${identifier.toLowerCase()}`)) failures.delete(k)
    },
    get blocked () { return [...failures.values()].filter(n => threshold > 0 && n >= threshold).length }
  }
}
