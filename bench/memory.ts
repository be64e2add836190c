/**
 * Memory job (run by bench/run.ts in its own process with --expose-gc): heap bytes per session in the memory store
 * at several sizes, and eviction at the store's bound. One real record from a real login is cloned with distinct
 * ids, tokens and claims (fresh strings, as JSON.parse makes them) and stored through createSessions → store.set,
 * exactly the path a login takes.
 */
import { systemClock } from '../src/clock.js'
import { createMemoryStore } from '../src/session/memory-store.js'
import type { SessionRecord } from '../src/session/session-store.js'
import { createSessions, type NewSession } from '../src/session/sessions.js'
import { announceReady, serveParent } from './lib/ipc.js'
import { captureRealRecord } from './lib/real-login.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('memory job: run with --expose-gc')
const collect = (): void => { for (let i = 0; i < 3; i++) gc() }

export interface MemoryPoint {
  sessions: number
  /** heapUsed after gc, minus the same before the store existed, divided by sessions. */
  heapBytesPerSession: number
  /** process.memoryUsage().arrayBuffers delta per session (lru-cache keeps its indexes in typed arrays). */
  arrayBufferBytesPerSession: number
  storeSize: number
  fillMs: number
}

export interface MemoryResult {
  record: { accessTokenChars: number, refreshTokenChars: number, userClaims: number, jsonBytes: number }
  points: MemoryPoint[]
  eviction: { maxEntries: number, inserted: number, sizeAfter: number, evicted: number, oldestGone: boolean, newestKept: boolean }
}

/** A variant of a token with distinct trailing characters (same length). */
function variant (token: string, i: number): string {
  const tail = i.toString(36).padStart(10, '0')
  return token.slice(0, token.length - tail.length) + tail
}

/**
 * Session i's record as a login hands it over: every string its own (the token client and the id_token verifier get
 * them from JSON.parse), so nothing is shared between sessions that would not be in production.
 */
function clone (base: SessionRecord, i: number): NewSession {
  const sub = `${base.sub}-${i}`
  const { createdAt: _c, absoluteExpiresAt: _a, lastSeenAt: _l, version: _v, ...rest } = base
  const session: NewSession = {
    ...rest,
    sub,
    user: { ...base.user, sub },
    accessToken: variant(base.accessToken, i),
    ...(base.refreshToken === undefined ? {} : { refreshToken: variant(base.refreshToken, i) })
  }
  return JSON.parse(JSON.stringify(session)) as NewSession
}

const sessionsFor = (maxEntries: number, onEvict?: () => void) => {
  const store = createMemoryStore({ maxEntries, ...(onEvict === undefined ? {} : { onEvict }) })
  return { store, sessions: createSessions({ store, clock: systemClock, idleTimeoutMs: 30 * 60_000, absoluteTimeoutMs: 12 * 3_600_000 }) }
}

async function measure (base: SessionRecord, count: number): Promise<MemoryPoint> {
  collect()
  const before = process.memoryUsage()
  const started = performance.now()
  let { store, sessions } = sessionsFor(count)
  for (let i = 0; i < count; i++) await sessions.create(clone(base, i))
  const fillMs = performance.now() - started
  collect()
  const after = process.memoryUsage()
  const point: MemoryPoint = {
    sessions: count,
    heapBytesPerSession: (after.heapUsed - before.heapUsed) / count,
    arrayBufferBytesPerSession: (after.arrayBuffers - before.arrayBuffers) / count,
    storeSize: store.size,
    fillMs: Math.round(fillMs)
  }
  await store.close()
  // Drop the references before the next point measures its baseline.
  store = undefined as never
  sessions = undefined as never
  return point
}

async function eviction (base: SessionRecord): Promise<MemoryResult['eviction']> {
  const maxEntries = 1_000
  const inserted = 1_500
  let evicted = 0
  const { store, sessions } = sessionsFor(maxEntries, () => { evicted++ })
  const ids: string[] = []
  for (let i = 0; i < inserted; i++) ids.push((await sessions.create(clone(base, i))).id)
  const result = {
    maxEntries,
    inserted,
    sizeAfter: store.size,
    evicted,
    oldestGone: await sessions.peek(ids[0] ?? '') === undefined,
    newestKept: await sessions.peek(ids[ids.length - 1] ?? '') !== undefined
  }
  await store.close()
  return result
}

async function run (arg: unknown): Promise<MemoryResult> {
  const counts = (arg as { counts: number[] }).counts
  const base = await captureRealRecord()
  const points: MemoryPoint[] = []
  for (const count of counts) points.push(await measure(base, count))
  return {
    record: {
      accessTokenChars: base.accessToken.length,
      refreshTokenChars: base.refreshToken?.length ?? 0,
      userClaims: Object.keys(base.user).length,
      jsonBytes: Buffer.byteLength(JSON.stringify(base))
    },
    points,
    eviction: await eviction(base)
  }
}

serveParent(async () => {}, { run })
announceReady(0)
