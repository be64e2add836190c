/**
 * An open-loop load generator at a steady rate, for latency at a fixed offered load. autocannon's own rate limit
 * (`overallRate`) lets each connection send its quota for the second as fast as it can and then wait for the next
 * second, so its "fixed rate" is a burst at the top of every second and the latency it measures is mostly the queue
 * that burst builds. Here requests start evenly spaced (every 1/rate s, caught up on each timer tick), on at most
 * `connections` keep-alive sockets; a request that finds them all busy waits in the agent's queue, and that wait
 * counts in its latency. Timers tick every millisecond or so, so a request may start up to about a millisecond after
 * its turn; latency is counted from when it actually starts, the same way for every target.
 */
import { Agent, request } from 'node:http'

export interface PacedLoadOptions {
  url: string
  headers: Record<string, string>
  /** Requests per second, in all. */
  rate: number
  seconds: number
  connections: number
}

export interface PacedLoadResult {
  /** Requests answered (any status). */
  requests: number
  non2xx: number
  errors: number
  /** Wall time from the first request to the last answer, seconds. */
  duration: number
  /** Latency of every 2xx answer, ms, from the moment it was sent (queued in the agent included) to its last byte, sorted. */
  latenciesMs: Float64Array
}

export async function pacedLoad (options: PacedLoadOptions): Promise<PacedLoadResult> {
  const { url, headers, rate, seconds, connections } = options
  const target = new URL(url)
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections })
  const total = Math.max(1, Math.round(rate * seconds))
  const intervalMs = 1000 / rate
  const latencies: number[] = []
  let answered = 0
  let non2xx = 0
  let errors = 0
  let sent = 0
  const started = performance.now()

  await new Promise<void>(resolve => {
    const settle = (): void => {
      answered++
      if (answered === total) resolve()
    }
    const fire = (): void => {
      const sentAt = performance.now()
      const req = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, headers, agent }, res => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - sentAt)
          else non2xx++
          settle()
        })
      })
      req.on('error', () => { errors++; settle() })
      req.end()
    }
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1)
      for (; sent < due; sent++) fire()
      if (sent < total) setTimeout(tick, 1)
    }
    tick()
  })
  const duration = (performance.now() - started) / 1000
  agent.destroy()
  return { requests: answered, non2xx, errors, duration, latenciesMs: Float64Array.from(latencies).sort() }
}
