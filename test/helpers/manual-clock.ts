import type { Clock } from '../../src/clock.js'

export interface ManualClock extends Clock {
  advance (ms: number): void
  set (ms: number): void
}

/** A clock that only moves when the test says so. */
export function createManualClock (startMs = Date.UTC(2030, 0, 1)): ManualClock {
  let now = startMs
  return {
    now: () => now,
    advance (ms) { now += ms },
    set (ms) { now = ms }
  }
}
