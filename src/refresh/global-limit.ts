/** A 429 for this many different sessions within the window below means the whole client is limited. */
const GLOBAL_LIMIT_SESSIONS = 3
const GLOBAL_LIMIT_WINDOW_MS = 10_000

export interface GlobalLimit {
  /**
   * Remembers that the IdP answered a session's refresh with 429 at `now`, to be waited out until `until` (epoch ms).
   * Returns the gateway-wide not-before this implies, epoch ms, or 0 when only the session is limited: several
   * sessions limited at once, or a description saying "global", back the whole gateway off (with jitter).
   */
  note (sessionId: string, description: string | undefined, now: number, until: number): number
}

export function createGlobalLimit (random: () => number = Math.random): GlobalLimit {
  const recentLimits = new Map<string, number>()
  return {
    note (sessionId, description, now, until) {
      recentLimits.set(sessionId, now)
      for (const [id, at] of recentLimits) if (now - at > GLOBAL_LIMIT_WINDOW_MS) recentLimits.delete(id)
      if (!/global/i.test(description ?? '') && recentLimits.size < GLOBAL_LIMIT_SESSIONS) return 0
      return until + random() * Math.max(1000, (until - now) / 2)
    }
  }
}
