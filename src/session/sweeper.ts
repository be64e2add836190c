/**
 * Runs a task every interval, one run at a time (the next is scheduled when the previous has settled), until stopped.
 * The timers are injectable so tests drive it without sleeping. The session sweeper (issue #15) is one.
 */
export interface Timers {
  setTimeout (fn: () => void, ms: number): unknown
  clearTimeout (handle: unknown): void
}

export const nodeTimers: Timers = {
  setTimeout (fn, ms) {
    const handle = setTimeout(fn, ms)
    // The sweeper never keeps the process alive by itself.
    handle.unref()
    return handle
  },
  clearTimeout (handle) { clearTimeout(handle as NodeJS.Timeout) }
}

export interface Sweeper {
  /** Stops scheduling and resolves once a run in progress has settled. */
  stop (): Promise<void>
}

export interface SweeperOptions {
  readonly intervalMs: number
  readonly run: () => Promise<unknown>
  readonly onError: (err: unknown) => void
  readonly timers?: Timers | undefined
}

export function startSweeper (options: SweeperOptions): Sweeper {
  const { intervalMs, run, onError } = options
  const timers = options.timers ?? nodeTimers
  let stopped = false
  let handle: unknown
  let running: Promise<void> | undefined

  const schedule = (): void => {
    if (stopped) return
    handle = timers.setTimeout(() => {
      handle = undefined
      running = run().then(() => {}, onError).finally(() => {
        running = undefined
        schedule()
      })
    }, intervalMs)
  }
  schedule()

  return {
    async stop () {
      stopped = true
      if (handle !== undefined) timers.clearTimeout(handle)
      handle = undefined
      await running
    }
  }
}
