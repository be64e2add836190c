/**
 * Coalesces concurrent calls per key: while a call for a key is pending, every further call for that key gets the
 * same promise, and the function runs once. The entry is cleared when the call settles, success or failure.
 */
export function singleFlight<K, V> (): { run (key: K, fn: () => Promise<V>): Promise<V>, readonly pending: number } {
  const inflight = new Map<K, Promise<V>>()
  return {
    get pending () { return inflight.size },
    async run (key, fn) {
      const existing = inflight.get(key)
      if (existing !== undefined) return await existing
      const promise = (async () => await fn())()
      inflight.set(key, promise)
      try {
        return await promise
      } finally {
        if (inflight.get(key) === promise) inflight.delete(key)
      }
    }
  }
}
