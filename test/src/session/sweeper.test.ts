import t from 'tap'
import { startSweeper } from '../../../src/session/sweeper.js'
import { createManualTimers } from '../../helpers/manual-timers.js'

function deferred (): { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void } {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

t.test('runs on each interval, one run at a time, and keeps going after a failure', async t => {
  const timers = createManualTimers()
  const runs: Array<ReturnType<typeof deferred>> = []
  const errors: unknown[] = []
  const sweeper = startSweeper({ intervalMs: 30_000, timers, run: async () => { const d = deferred(); runs.push(d); await d.promise }, onError: err => { errors.push(err) } })
  t.equal(runs.length, 0, 'nothing before the first interval')
  t.same(timers.delays, [30_000])
  timers.fire()
  t.equal(runs.length, 1)
  t.equal(timers.pending, 0, 'the next run is scheduled only once this one settles')
  runs[0]?.reject(new Error('store down'))
  await new Promise(setImmediate)
  t.match(errors, [{ message: 'store down' }])
  t.equal(timers.pending, 1, 'scheduled again after a failure')
  timers.fire()
  t.equal(runs.length, 2)
  runs[1]?.resolve()
  await new Promise(setImmediate)
  t.equal(timers.pending, 1)
  await sweeper.stop()
  t.equal(timers.pending, 0, 'stop clears the timer')
  timers.fire()
  t.equal(runs.length, 2, 'nothing runs after stop')
})

t.test('stop waits for the run in progress and schedules nothing after it', async t => {
  const timers = createManualTimers()
  const run = deferred()
  let finished = false
  const sweeper = startSweeper({ intervalMs: 1_000, timers, run: async () => { await run.promise; finished = true }, onError: () => {} })
  timers.fire()
  const stopped = sweeper.stop()
  run.resolve()
  await stopped
  t.ok(finished, 'stop resolved after the run')
  t.equal(timers.pending, 0)
})
