import type { Timers } from '../../src/session/sweeper.js'

export interface ManualTimers extends Timers {
  /** Timers scheduled and neither fired nor cleared. */
  readonly pending: number
  /** The delays asked for, in order. */
  readonly delays: number[]
  /** Fires every pending timer now, whatever its delay. */
  fire (): void
}

/** Timers that only fire when the test says so. */
export function createManualTimers (): ManualTimers {
  const timers = new Map<number, () => void>()
  const delays: number[] = []
  let next = 0
  return {
    delays,
    get pending () { return timers.size },
    setTimeout (fn, ms) {
      const handle = ++next
      timers.set(handle, fn)
      delays.push(ms)
      return handle
    },
    clearTimeout (handle) { timers.delete(handle as number) },
    fire () {
      const due = [...timers.values()]
      timers.clear()
      for (const fn of due) fn()
    }
  }
}
