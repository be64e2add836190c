/**
 * redis-server processes of a test's own, on free ports, for what the shared Redis must never be put through:
 * outages, Cluster, Sentinel. Killed when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Cluster, Redis } from 'ioredis'
import type { Teardown } from './gateway.js'

/**
 * Starts `redis-server <args>`; resolves when it prints `ready` (a server: when it accepts connections; a Sentinel
 * says `+monitor master` once it watches its master).
 */
export async function startRedisServer (args: readonly string[], ready = 'Ready to accept connections'): Promise<ChildProcess> {
  const child = spawn('redis-server', [...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes(ready)) resolve()
    })
    child.once('exit', code => { reject(new Error(`redis-server exited (${String(code)}): ${out}`)) })
  })
  return child
}

/** The arguments of a private, non-persistent server on 127.0.0.1:port with its files in dir. */
export function serverArgs (port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
}

export async function stopProcess (child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  await exited
}

/** A temporary directory for a server's files, removed when the test ends. */
export async function redisDir (t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bff-redis-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Resolves once a gateway's Redis client is connected (by its own reconnection: nothing here retries). */
export async function redisReady (client: Redis | Cluster | null): Promise<void> {
  if (client === null || client.status === 'ready') return
  await new Promise<void>(resolve => { client.once('ready', () => { resolve() }) })
}
