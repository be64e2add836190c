/**
 * Issue #15: every `/api` WebSocket tunnel is tied to its session and closed (4401) when the session ends, however it
 * ends, on this replica or on another; and every end revokes the refresh token at the IdP. Real servers on 127.0.0.1:
 * the local IdP, a WebSocket echo upstream, the gateway (memory, then two replicas over one Redis), `ws` clients.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { sessionKeyFor } from '../../src/session/redis-store.js'
import { storageKey } from '../../src/session/session-id.js'
import { SESSION_ENDED_CLOSE_CODE } from '../../src/session/tunnels.js'
import { buildTestApp, captureLogs, COOKIE_NAME, login, startTestIdp, testEnv, type LogCapture } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'
import { createManualTimers, type ManualTimers } from '../helpers/manual-timers.js'
import { REDIS_URL, sharedRedis } from '../helpers/shared-redis.js'
import { startUpstream } from '../helpers/upstream.js'

const ALICE_ID = 'auth0|alice0000000000000000001'
const ADMIN_TOKEN = 'admin-token-0123456789abcdefghijklmnopqrstuvwxyz'
const MINUTE = 60_000
const clock = createManualClock()
const idp = await startTestIdp(t, { clock, accessTokenTtlSec: 3600 })
const upstream = await startUpstream(t)
const { redis, prefix: PREFIX } = sharedRedis()

interface Gateway { app: FastifyInstance, base: string, ws: string, admin: string, logs: LogCapture, timers: ManualTimers }

async function gateway (t: Test, env: Record<string, string> = {}): Promise<Gateway> {
  const logs = captureLogs()
  const timers = createManualTimers()
  const app = await buildTestApp(t, {
    env: testEnv(idp, { UPSTREAMS: `/api=${upstream.url}`, LOG_LEVEL: 'info', SESSION_IDLE_TIMEOUT: '10m', ADMIN_PORT: '0', ADMIN_API: 'on', ADMIN_TOKEN, ...env }),
    deps: { clock, timers },
    logs
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const admin = await app.adminServer.started()
  return { app, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, admin: `http://127.0.0.1:${admin?.port ?? 0}`, logs, timers }
}

interface Tunnel {
  socket: WebSocket
  /** The close code and reason the client got. */
  closed: Promise<{ code: number, reason: string }>
  /** Sends a message and resolves with its echo. */
  echo (text: string): Promise<string>
}

async function openTunnel (gw: Gateway, cookie: string): Promise<Tunnel> {
  const before = gw.app.tunnels.size
  const socket = new WebSocket(`${gw.ws}/api/chat`, { headers: { cookie: `${COOKIE_NAME}=${cookie}` } })
  const closed = new Promise<{ code: number, reason: string }>(resolve => { socket.once('close', (code, reason) => { resolve({ code, reason: reason.toString() }) }) })
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  t.teardown(() => { socket.terminate() })
  const tunnel: Tunnel = {
    socket,
    closed,
    async echo (text) {
      const reply = new Promise<string>(resolve => { socket.once('message', data => { resolve(String(data)) }) })
      socket.send(text)
      return await reply
    }
  }
  if (await tunnel.echo('hello') !== 'hello') throw new Error('the tunnel does not echo')
  if (gw.app.tunnels.size !== before + 1) throw new Error('the tunnel is not registered')
  return tunnel
}

async function call (gw: Gateway, method: string, path: string, cookie: string): Promise<number> {
  const res = await fetch(`${gw.base}${path}`, { method, headers: { cookie: `${COOKIE_NAME}=${cookie}`, 'x-csrf': '1' } })
  await res.arrayBuffer()
  return res.status
}

function sessionEnded (gw: Gateway, reason: string): Array<Record<string, unknown>> {
  return gw.logs.lines().filter(line => line.event === 'session_ended' && line.reason === reason)
}

t.test('DELETE /session closes the session\'s tunnel (4401) and revokes its refresh token', async t => {
  const gw = await gateway(t)
  const { value } = await login(gw.app)
  const other = await login(gw.app) // another session (another device) of the same user
  const tunnel = await openTunnel(gw, value)
  const bystander = await openTunnel(gw, other.value)
  const revocations = idp.stats.revocations
  t.equal(await call(gw, 'DELETE', '/session', value), 204)
  t.same(await tunnel.closed, { code: SESSION_ENDED_CLOSE_CODE, reason: 'session ended' })
  t.equal(idp.stats.revocations, revocations + 1, 'revoked at the IdP')
  t.equal(sessionEnded(gw, 'logout').length, 1)
  t.equal(await bystander.echo('still'), 'still', 'another session\'s tunnel stays open')
  t.equal(gw.app.tunnels.size, 1)
})

t.test('DELETE /session/all?others=true closes the other sessions\' tunnels; DELETE /session/all the rest', async t => {
  const gw = await gateway(t)
  const laptop = await login(gw.app)
  const phone = await login(gw.app)
  const onLaptop = await openTunnel(gw, laptop.value)
  const onPhone = await openTunnel(gw, phone.value)
  t.equal(await call(gw, 'DELETE', '/session/all?others=true', laptop.value), 200)
  t.equal((await onPhone.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(await onLaptop.echo('mine'), 'mine', 'the current session\'s tunnel stays')
  t.equal(await call(gw, 'DELETE', '/session/all', laptop.value), 200)
  t.equal((await onLaptop.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(sessionEnded(gw, 'logout_all').length, 2)
})

t.test('the admin "end all" cuts the user off: every tunnel closes', async t => {
  const gw = await gateway(t)
  const tunnels = [await openTunnel(gw, (await login(gw.app)).value), await openTunnel(gw, (await login(gw.app)).value)]
  const revocations = idp.stats.revocations
  const res = await fetch(`${gw.admin}/admin/users/${encodeURIComponent(ALICE_ID)}/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.same(await res.json(), { ended: 2 })
  for (const tunnel of tunnels) t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(idp.stats.revocations, revocations + 2)
  t.equal(sessionEnded(gw, 'admin').length, 2)
})

t.test('the idle timeout, found by the sweeper: tunnel closed, token revoked; tunnel traffic is not activity', async t => {
  const gw = await gateway(t)
  const { value } = await login(gw.app)
  const tunnel = await openTunnel(gw, value)
  clock.advance(6 * MINUTE)
  t.equal(await tunnel.echo('busy'), 'busy')
  clock.advance(4 * MINUTE + 1)
  t.equal(await tunnel.echo('still busy'), 'still busy', 'open until the sweeper runs')
  const revocations = idp.stats.revocations
  gw.timers.fire()
  t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  await gw.logs.waitFor(line => line.event === 'session_ended' && line.reason === 'idle_timeout')
  t.equal(idp.stats.revocations, revocations + 1, 'revoked although no request ever saw the timeout')
  t.equal(await call(gw, 'GET', '/session', value), 401)
})

t.test('the absolute timeout noticed on a request closes the tunnel', async t => {
  const gw = await gateway(t, { SESSION_ABSOLUTE_TIMEOUT: '15m' })
  const { value } = await login(gw.app)
  const tunnel = await openTunnel(gw, value)
  clock.advance(8 * MINUTE)
  t.equal(await call(gw, 'GET', '/session', value), 200)
  clock.advance(8 * MINUTE)
  const revocations = idp.stats.revocations
  t.equal(await call(gw, 'GET', '/session', value), 401)
  t.equal(idp.stats.revocations, revocations + 1, 'revoked before the request was answered')
  t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(sessionEnded(gw, 'absolute_timeout').length, 1)
})

t.test('a refresh token the IdP refuses ends the session and closes its tunnel', async t => {
  const gw = await gateway(t, { SESSION_IDLE_TIMEOUT: '2h', SESSION_ABSOLUTE_TIMEOUT: '4h' })
  const { value } = await login(gw.app)
  const tunnel = await openTunnel(gw, value)
  idp.revokeUserSessions(ALICE_ID)
  clock.advance(61 * MINUTE) // the access token has expired: the next request must refresh
  t.equal(await call(gw, 'GET', '/api/orders', value), 401)
  t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(sessionEnded(gw, 'refresh_refused').length, 1)
})

t.test('a login on a request that has a session ends the old one (fixation defence) and its tunnel', async t => {
  const gw = await gateway(t)
  const { value } = await login(gw.app)
  const tunnel = await openTunnel(gw, value)
  const res = await fetch(`${gw.base}/session`, {
    method: 'POST',
    headers: { cookie: `${COOKIE_NAME}=${value}`, 'x-csrf': '1', 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice@example.com', password: 'alice-password-1' })
  })
  t.equal(res.status, 200)
  t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  await gw.logs.waitFor(line => line.event === 'session_ended' && line.reason === 'replaced')
})

t.test('MAX_SESSIONS_PER_USER: the session that makes room loses its tunnel', async t => {
  const gw = await gateway(t, { MAX_SESSIONS_PER_USER: '2' })
  const oldest = await login(gw.app)
  const tunnel = await openTunnel(gw, oldest.value)
  clock.advance(1_000)
  await login(gw.app)
  clock.advance(1_000)
  t.equal(await tunnel.echo('two'), 'two', 'within the bound')
  const revocations = idp.stats.revocations
  await login(gw.app)
  t.equal((await tunnel.closed).code, SESSION_ENDED_CLOSE_CODE)
  t.equal(idp.stats.revocations, revocations + 1)
  t.equal(await call(gw, 'GET', '/session', oldest.value), 401)
  const list = await fetch(`${gw.admin}/admin/users/${encodeURIComponent(ALICE_ID)}/sessions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(((await list.json()) as { sessions: unknown[] }).sessions.length, 2)
})

t.test('two replicas over one Redis: a tunnel on A closes when its session ends on B', async t => {
  const env = {
    SESSION_STORE: 'redis',
    REDIS_URL,
    REDIS_KEY_PREFIX: `${PREFIX}replicas-${randomBytes(3).toString('hex')}:`,
    SESSION_ENCRYPTION_KEY: randomBytes(32).toString('base64url')
  }
  const a = await gateway(t, env)
  const b = await gateway(t, env)

  const first = await login(a.app)
  const onA = await openTunnel(a, first.value)
  const revocations = idp.stats.revocations
  t.equal(await call(b, 'DELETE', '/session', first.value), 204, 'logout on B')
  t.equal((await onA.closed).code, SESSION_ENDED_CLOSE_CODE, 'A closed the tunnel')
  t.equal(idp.stats.revocations, revocations + 1)

  const second = await login(a.app)
  const again = await openTunnel(a, second.value)
  const res = await fetch(`${b.admin}/admin/users/${encodeURIComponent(ALICE_ID)}/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.same(await res.json(), { ended: 1 }, 'the operator\'s "end all" on B')
  t.equal((await again.closed).code, SESSION_ENDED_CLOSE_CODE, 'cut off on A')

  const third = await login(a.app)
  const idle = await openTunnel(a, third.value)
  clock.advance(10 * MINUTE + 1)
  const before = idp.stats.revokeCalls
  b.timers.fire() // B's sweeper claims the expired session
  t.equal((await idle.closed).code, SESSION_ENDED_CLOSE_CODE, 'the idle session found by B\'s sweeper closes A\'s tunnel')
  await b.logs.waitFor(line => line.event === 'session_ended' && line.reason === 'idle_timeout')
  a.timers.fire()
  await a.app.sessions.sweep()
  await b.app.sessions.sweep()
  t.equal(idp.stats.revokeCalls, before + 1, 'revoked once, by one replica')
  t.equal(sessionEnded(a, 'idle_timeout').length, 0)

  // A message A missed (its subscription was down): A's own sweep finds the tunnel's session gone and closes it.
  const fourth = await login(a.app)
  const missed = await openTunnel(a, fourth.value)
  await redis.del(sessionKeyFor(env.REDIS_KEY_PREFIX, storageKey(fourth.value.slice(0, fourth.value.lastIndexOf('.')))))
  t.equal(await missed.echo('unaware'), 'unaware', 'nobody told A')
  a.timers.fire()
  t.equal((await missed.closed).code, SESSION_ENDED_CLOSE_CODE, 'closed by A\'s sweep')
})

t.test('the sweeper runs every SESSION_SWEEP_INTERVAL and stops when the app closes', async t => {
  const gw = await gateway(t, { SESSION_SWEEP_INTERVAL: '5s' })
  t.same(gw.timers.delays, [5_000])
  t.equal(gw.timers.pending, 1)
  await gw.app.close()
  t.equal(gw.timers.pending, 0, 'no timer left behind')
})
