/** The source of "now" for everything that reasons about time. Injected so tests never sleep. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now (): number
}

export const systemClock: Clock = { now: () => Date.now() }
