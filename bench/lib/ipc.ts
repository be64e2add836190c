/**
 * The small protocol between the bench orchestrator and its child processes (one server per process, so CPU
 * counters are per server and the load generator never shares a server's event loop).
 *
 * child → parent: `{ type: 'ready', port }` once listening, then `{ id, result }` or `{ id, error }` per request.
 * parent → child: `{ id, op, arg? }`; every child answers `usage` (its own process.cpuUsage / memoryUsage) and `stop`.
 */
import { execFileSync, fork, type ChildProcess, type StdioOptions } from 'node:child_process'
import { openSync } from 'node:fs'

export interface Usage {
  /** process.cpuUsage() of the child, microseconds. */
  userUs: number
  systemUs: number
  rssBytes: number
  heapUsedBytes: number
}

export interface ChildRequest { id: number, op: string, arg?: unknown }
type ChildReply = { type: 'ready', port: number } | { id: number, result?: unknown, error?: string }

export type Handler = (arg: unknown) => unknown

export function usageNow (): Usage {
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  return { userUs: cpu.user, systemUs: cpu.system, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed }
}

/**
 * Child side: answers `usage` and `stop` plus the given handlers. `stop` runs `close`, then exits (so a
 * `--cpu-prof` profile is written).
 */
export function serveParent (close: () => Promise<void>, handlers: Record<string, Handler> = {}): void {
  const send = (message: unknown): void => { process.send?.(message) }
  process.on('message', (raw: unknown) => {
    const message = raw as ChildRequest
    const reply = async (): Promise<void> => {
      try {
        if (message.op === 'usage') return send({ id: message.id, result: usageNow() })
        if (message.op === 'stop') {
          await close()
          send({ id: message.id, result: true })
          process.disconnect?.()
          // Give the IPC channel a moment to flush, then leave (a profile is written on exit).
          setTimeout(() => process.exit(0), 50).unref()
          return
        }
        const handler = handlers[message.op]
        if (handler === undefined) return send({ id: message.id, error: `unknown op ${message.op}` })
        send({ id: message.id, result: await handler(message.arg) })
      } catch (err) {
        send({ id: message.id, error: err instanceof Error ? err.stack ?? err.message : String(err) })
      }
    }
    void reply()
  })
  // The parent went away (crashed, Ctrl-C): never outlive it.
  process.on('disconnect', () => { void close().finally(() => process.exit(0)) })
}

export function announceReady (port: number): void {
  process.send?.({ type: 'ready', port })
}

export interface SpawnOptions {
  env?: Record<string, string>
  /** Extra node flags (--cpu-prof, --expose-gc, ...). */
  nodeArgs?: string[]
  /** Where the child's stdout goes: a file path, 'inherit', or 'ignore' (/dev/null). */
  stdout?: string
  /** How long to wait for `ready`. */
  startTimeoutMs?: number
  /** CPUs the child may run on, as taskset reads them (`1`, `0-1`); every thread it has or starts. */
  cpus?: string
}

/**
 * Restricts a process (all its threads, and the ones it starts later) to the given CPUs with taskset(1). The bench
 * gives the server under test a core of its own, so the load generator and the upstream do not take turns with it.
 */
export function pinToCpus (pid: number, cpus: string): void {
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' })
}

export interface Child {
  readonly name: string
  readonly port: number
  readonly process: ChildProcess
  call<T = unknown> (op: string, arg?: unknown): Promise<T>
  usage (): Promise<Usage>
  stop (): Promise<void>
}

const TSX = import.meta.resolve('tsx')

/** Forks `script` (a .ts file run through tsx) and waits until it reports its port (or finishes, for jobs). */
export async function spawnChild (name: string, script: string, options: SpawnOptions = {}): Promise<Child> {
  const stdout = options.stdout ?? 'inherit'
  const stdio: StdioOptions = ['ignore', stdout === 'inherit' || stdout === 'ignore' ? stdout : openSync(stdout, 'a'), 'inherit', 'ipc']
  const child = fork(script, [], {
    execArgv: ['--import', TSX, ...(options.nodeArgs ?? [])],
    env: { ...process.env, ...options.env },
    stdio
  })
  if (options.cpus !== undefined && child.pid !== undefined) pinToCpus(child.pid, options.cpus)
  let nextId = 1
  const pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void }>()
  let exited = false
  const exitPromise = new Promise<void>(resolve => child.once('exit', () => { exited = true; resolve() }))
  child.on('message', (raw: unknown) => {
    const message = raw as ChildReply
    if ('id' in message) {
      const waiter = pending.get(message.id)
      if (waiter === undefined) return
      pending.delete(message.id)
      if (message.error !== undefined) waiter.reject(new Error(`${name}: ${message.error}`))
      else waiter.resolve(message.result)
    }
  })
  void exitPromise.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name}: child exited (code ${String(child.exitCode)})`))
    pending.clear()
  })

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill(); reject(new Error(`${name}: not ready within ${options.startTimeoutMs ?? 30_000} ms`)) }, options.startTimeoutMs ?? 30_000)
    child.on('message', (raw: unknown) => {
      const message = raw as ChildReply
      if ('type' in message && message.type === 'ready') { clearTimeout(timer); resolve(message.port) }
    })
    void exitPromise.then(() => { clearTimeout(timer); reject(new Error(`${name}: exited before it was ready (code ${String(child.exitCode)})`)) })
  })

  const call = async <T>(op: string, arg?: unknown): Promise<T> => {
    if (exited) throw new Error(`${name}: child has exited`)
    const id = nextId++
    return await new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: value => resolve(value as T), reject })
      child.send({ id, op, arg } satisfies ChildRequest)
    })
  }
  return {
    name,
    port,
    process: child,
    call,
    usage: async () => await call<Usage>('usage'),
    async stop () {
      if (exited) return
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      try { await call('stop') } catch {}
      await exitPromise
      clearTimeout(killer)
    }
  }
}
