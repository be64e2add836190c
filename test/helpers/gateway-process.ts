/**
 * The gateway as its own process (`node --import tsx server.ts`), on the test IdP, with its stdout read line by line.
 * Killed when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SESSION_SECRET, type Teardown } from './gateway.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

type LogLine = Record<string, unknown>

export interface GatewayProcess {
  readonly child: ChildProcess
  /** The JSON lines written so far. */
  readonly lines: LogLine[]
  /** The first line, already written or still to come, that matches. */
  waitFor (test: (line: LogLine) => boolean): Promise<LogLine>
  /** The exit code, once the process has exited. */
  readonly exited: Promise<number | null>
}

/** Starts server.ts with the IdP's client and the given variables (HOST 127.0.0.1, a free PORT, no admin port). */
export function startGatewayProcess (t: Teardown, idp: { url: string }, env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      AUTH0_DOMAIN: idp.url,
      AUTH0_CLIENT_ID: DEMO_CLIENT_ID,
      AUTH0_CLIENT_SECRET: DEMO_CLIENT_SECRET,
      SESSION_SECRET,
      HOST: '127.0.0.1',
      PORT: '0',
      ADMIN_PORT: 'off',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  const lines: LogLine[] = []
  const waiters: Array<{ test: (line: LogLine) => boolean, resolve: (line: LogLine) => void }> = []
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop() ?? ''
    for (const part of parts) {
      let line: LogLine
      try { line = JSON.parse(part) as LogLine } catch { continue }
      lines.push(line)
      for (const w of waiters.filter(w => w.test(line))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line) }
    }
  })
  return {
    child,
    lines,
    exited,
    waitFor: async test => lines.find(test) ?? await new Promise(resolve => { waiters.push({ test, resolve }) })
  }
}
