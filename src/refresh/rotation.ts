import type { SessionRecord } from '../session/session-store.js'
import { tokenFields, type TokenSet } from '../token/token-set.js'

/**
 * The session's record after a successful refresh at `now`: the new tokens (a returned refresh token replaces the
 * stored one), the user's claims from the new id_token, a new version, and no more not-before.
 */
export function rotate (current: SessionRecord, tokens: TokenSet, user: SessionRecord['user'], now: number): SessionRecord {
  const { refreshNotBefore: _notBefore, refreshBlockedBy: _blockedBy, ...rest } = current
  return {
    ...rest,
    user,
    ...tokenFields(tokens, current.scope),
    version: current.version + 1,
    lastRefreshAt: now
  }
}
