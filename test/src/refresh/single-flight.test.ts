import t from 'tap'
import { singleFlight } from '../../../src/refresh/single-flight.js'

function deferred<V> (): { promise: Promise<V>, resolve: (v: V) => void, reject: (e: unknown) => void } {
  let resolve!: (v: V) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<V>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

t.test('concurrent calls for one key run the function once and share its result', async t => {
  const flights = singleFlight<string, number>()
  const gate = deferred<number>()
  let runs = 0
  const fn = async (): Promise<number> => { runs++; return await gate.promise }
  const a = flights.run('s1', fn)
  const b = flights.run('s1', fn)
  const c = flights.run('s1', fn)
  t.equal(flights.pending, 1)
  gate.resolve(42)
  t.same(await Promise.all([a, b, c]), [42, 42, 42])
  t.equal(runs, 1)
  t.equal(flights.pending, 0)
})

t.test('different keys run independently', async t => {
  const flights = singleFlight<string, string>()
  const gates = { a: deferred<string>(), b: deferred<string>() }
  const a = flights.run('a', async () => await gates.a.promise)
  const b = flights.run('b', async () => await gates.b.promise)
  t.equal(flights.pending, 2)
  gates.b.resolve('B')
  t.equal(await b, 'B')
  t.equal(flights.pending, 1)
  gates.a.resolve('A')
  t.equal(await a, 'A')
})

t.test('a failure is shared by every waiter and cleared, so the next call runs again', async t => {
  const flights = singleFlight<string, number>()
  const gate = deferred<number>()
  let runs = 0
  const a = flights.run('k', async () => { runs++; return await gate.promise })
  const b = flights.run('k', async () => { runs++; return 0 })
  gate.reject(Object.assign(new Error('boom'), { code: 'E_BOOM' }))
  await t.rejects(a, { code: 'E_BOOM' })
  await t.rejects(b, { code: 'E_BOOM' })
  t.equal(flights.pending, 0)
  t.equal(await flights.run('k', async () => { runs++; return 7 }), 7)
  t.equal(runs, 2)
})

t.test('a synchronous throw inside the function is a rejection, not a crash', async t => {
  const flights = singleFlight<string, number>()
  // eslint-disable-next-line @typescript-eslint/require-await
  await t.rejects(flights.run('k', async () => { throw new TypeError('sync') }), TypeError)
  t.equal(flights.pending, 0)
})

t.test('after a call settles, the next call for the key runs the function again', async t => {
  const flights = singleFlight<string, number>()
  let runs = 0
  t.equal(await flights.run('k', async () => ++runs), 1)
  t.equal(await flights.run('k', async () => ++runs), 2)
})
