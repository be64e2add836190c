import { randomUUID } from 'node:crypto'
import type { Clock } from '../src/clock.js'
import { invalidRefreshToken } from './errors.js'
import { newRefreshToken } from './tokens.js'

/** All refresh tokens descended from one login (Auth0's "token family"). */
export interface RefreshFamily {
  id: string
  clientId: string
  userId: string
  scopes: readonly string[]
  audience: string | undefined
  createdAtMs: number
  absoluteExpiresAtMs: number
  idleExpiresAtMs: number
  revoked: boolean
  /** Tokens that may be exchanged now. Normally one; more when the previous token was re-used inside the leeway. */
  active: Set<string>
  /** The token rotated away most recently, exchangeable again within the leeway. */
  previous: { token: string, rotatedAtMs: number } | undefined
}

export interface RefreshPolicy {
  rotation: boolean
  leewaySec: number
  absoluteLifetimeSec: number
  idleLifetimeSec: number
}

export type ExchangeKind = 'active' | 'leeway'

export interface RefreshStore {
  issue (input: { clientId: string, userId: string, scopes: readonly string[], audience: string | undefined }): string
  /** The family a token belongs to (any state), without side effects. */
  find (token: string): RefreshFamily | undefined
  /**
   * Validates `token` for `clientId`. A rotated-away token outside the leeway is a reuse: the family is
   * revoked, `onReuse` runs and invalid_grant is thrown. Expired/revoked/unknown tokens throw invalid_grant.
   */
  check (token: string, clientId: string): { family: RefreshFamily, kind: ExchangeKind }
  /** Completes an exchange: renews the idle lifetime and, when rotating, returns the new token. */
  commit (family: RefreshFamily, token: string, kind: ExchangeKind): string | undefined
  /** Revokes the token's family if the token was issued to clientId. Returns whether anything was revoked. */
  revoke (token: string, clientId: string): boolean
  revokeUser (userId: string): number
  policy: RefreshPolicy
}

export function createRefreshStore (opts: { clock: Clock, policy: RefreshPolicy, onReuse: (family: RefreshFamily) => void }): RefreshStore {
  const { clock, policy } = opts
  const tokens = new Map<string, RefreshFamily>()
  const byUser = new Map<string, Set<RefreshFamily>>()

  function revokeFamily (family: RefreshFamily): void {
    family.revoked = true
    family.active.clear()
    family.previous = undefined
    byUser.get(family.userId)?.delete(family)
  }

  function mint (family: RefreshFamily): string {
    const token = newRefreshToken()
    tokens.set(token, family)
    return token
  }

  return {
    policy,
    issue ({ clientId, userId, scopes, audience }) {
      const now = clock.now()
      const family: RefreshFamily = {
        id: randomUUID(),
        clientId,
        userId,
        scopes,
        audience,
        createdAtMs: now,
        absoluteExpiresAtMs: now + policy.absoluteLifetimeSec * 1000,
        idleExpiresAtMs: now + policy.idleLifetimeSec * 1000,
        revoked: false,
        active: new Set(),
        previous: undefined
      }
      const token = mint(family)
      family.active.add(token)
      let set = byUser.get(userId)
      if (set === undefined) byUser.set(userId, set = new Set())
      set.add(family)
      return token
    },

    find: token => tokens.get(token),

    check (token, clientId) {
      const family = tokens.get(token)
      if (family === undefined || family.revoked || family.clientId !== clientId) throw invalidRefreshToken()
      const now = clock.now()
      if (now >= family.absoluteExpiresAtMs || now >= family.idleExpiresAtMs) {
        revokeFamily(family)
        throw invalidRefreshToken()
      }
      if (family.active.has(token)) return { family, kind: 'active' }
      const prev = family.previous
      if (policy.rotation && policy.leewaySec > 0 && prev !== undefined && prev.token === token && now - prev.rotatedAtMs <= policy.leewaySec * 1000) {
        return { family, kind: 'leeway' }
      }
      // A token of this family that is no longer exchangeable: breach detection.
      revokeFamily(family)
      opts.onReuse(family)
      throw invalidRefreshToken()
    },

    commit (family, token, kind) {
      const now = clock.now()
      family.idleExpiresAtMs = Math.min(now + policy.idleLifetimeSec * 1000, family.absoluteExpiresAtMs)
      if (!policy.rotation) return undefined
      const next = mint(family)
      if (kind === 'active') {
        family.active.clear()
        family.previous = { token, rotatedAtMs: now }
      }
      // kind 'leeway': the previous token keeps its original rotation time, so the window does not extend.
      family.active.add(next)
      return next
    },

    revoke (token, clientId) {
      const family = tokens.get(token)
      if (family === undefined || family.clientId !== clientId || family.revoked) return false
      revokeFamily(family)
      return true
    },

    revokeUser (userId) {
      const set = byUser.get(userId)
      if (set === undefined) return 0
      const families = [...set]
      for (const family of families) revokeFamily(family)
      return families.length
    }
  }
}
