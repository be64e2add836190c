/** Helpers for the multi-replica tests: gateway replicas as child processes, plain HTTP calls, Redis keys. */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Env } from '../../fastify.config.js'
import { storageKey } from '../../src/session/session-id.js'
import { ALICE, COOKIE_NAME, type Teardown } from '../helpers/gateway.js'

const REPLICA_MAIN = fileURLToPath(new URL('./replica.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Replica {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
  /** Moves this replica's clock forward. */
  advance (ms: number): Promise<void>
  request (method: string, path: string, cookie?: string): Promise<{ status: number, body: Record<string, unknown>, headers: Headers, cookie: string | undefined }>
  /** SIGKILL: no shutdown, no lock release, nothing. */
  kill (): Promise<void>
}

/** Starts a replica process with the given environment; killed when the test ends. */
export async function startReplica (t: Teardown, name: string, env: Env): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', REPLICA_MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n')[0]
      if (out.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port)
    })
    child.once('exit', code => { reject(new Error(`replica ${name} exited (${String(code)}): ${stderr}`)) })
  })
  const url = `http://127.0.0.1:${port}`
  const replica: Replica = {
    name,
    url,
    child,
    async advance (ms) {
      const res = await fetch(`${url}/__test/clock`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf': '1' }, body: JSON.stringify({ advanceMs: ms }) })
      if (res.status !== 200) throw new Error(`clock: ${res.status} ${await res.text()}`)
    },
    async request (method, path, cookie) {
      const headers: Record<string, string> = { 'x-csrf': '1' }
      if (cookie !== undefined) headers.cookie = `${COOKIE_NAME}=${cookie}`
      let body: string | undefined
      if (method === 'POST' && path === '/session') {
        headers['content-type'] = 'application/json'
        body = JSON.stringify(ALICE)
      }
      const res = await fetch(`${url}${path}`, { method, headers, body })
      const text = await res.text()
      const set = res.headers.getSetCookie().find(c => c.startsWith(`${COOKIE_NAME}=`))
      const value = set?.slice(COOKIE_NAME.length + 1).split(';')[0]
      return { status: res.status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, headers: res.headers, cookie: value === undefined ? undefined : decodeURIComponent(value) }
    },
    async kill () {
      child.kill('SIGKILL')
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit')
    }
  }
  return replica
}

/** A key prefix no other test uses. */
export function randomPrefix (): string {
  return `bff-test:${randomBytes(6).toString('hex')}:`
}

export function newEncryptionKey (): string {
  return randomBytes(32).toString('base64url')
}

/** The session id inside a signed cookie value (`id.signature`), and its Redis keys. */
export function keysFor (prefix: string, cookie: string): { session: string, lock: string } {
  const hash = storageKey(cookie.split('.')[0] ?? '')
  return { session: `${prefix}session:${hash}`, lock: `${prefix}lock:${hash}` }
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}
