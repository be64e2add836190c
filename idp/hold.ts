import type { Endpoint } from './faults.js'

export interface HoldGate {
  /** Lets every held call (and later ones) through; the gate is removed. */
  release (): void
  /** Resolves once n calls are waiting at (or have passed) this gate. */
  waitForCalls (n: number): Promise<void>
}

export interface HoldRegistry {
  hold (endpoint: Endpoint): HoldGate
  /** Called by the endpoint: waits while a gate is closed for it. */
  pass (endpoint: Endpoint): Promise<void>
  releaseAll (): void
}

interface Gate {
  arrived: number
  released: Promise<void>
  release: () => void
  waiters: Array<{ n: number, resolve: () => void }>
}

export function createHoldRegistry (): HoldRegistry {
  const gates = new Map<Endpoint, Gate>()

  return {
    hold (endpoint) {
      gates.get(endpoint)?.release()
      let release: () => void = () => {}
      const released = new Promise<void>(resolve => { release = resolve })
      const gate: Gate = { arrived: 0, released, release: () => {}, waiters: [] }
      gate.release = () => {
        if (gates.get(endpoint) === gate) gates.delete(endpoint)
        release()
      }
      gates.set(endpoint, gate)
      return {
        release: gate.release,
        waitForCalls: async n => {
          if (gate.arrived >= n) return
          await new Promise<void>(resolve => { gate.waiters.push({ n, resolve }) })
        }
      }
    },
    async pass (endpoint) {
      const gate = gates.get(endpoint)
      if (gate === undefined) return
      gate.arrived += 1
      gate.waiters = gate.waiters.filter(w => {
        if (gate.arrived < w.n) return true
        w.resolve()
        return false
      })
      await gate.released
    },
    releaseAll () {
      for (const gate of [...gates.values()]) gate.release()
    }
  }
}
