/**
 * The gateway on a Redis Cluster and behind Redis Sentinel, against real servers of the test's own (free ports; the
 * shared Redis is never touched): two replicas (two apps in this process) share the sessions; login, the session
 * read, the per-user index, a refresh under the Redis lock and logout all work. On the Cluster the session, its user
 * index, the lock and the throttle counters hash to different slots, so each command must go to its own node; and the
 * gateways start before the cluster is usable, as they do when a single Redis is down. Behind Sentinel, a failover
 * (the master killed, its replica promoted) keeps the sessions, with 503 store_unavailable only while there is no master.
 */
import { execFile, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { Env } from '../../fastify.config.js'
import type { RunningIdp } from '../../idp/app.js'
import { ALICE, COOKIE_NAME, buildTestApp, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { storageKey } from '../../src/session/session-id.js'
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js'
import { redisDir, redisReady, serverArgs, startRedisServer, stopProcess } from '../helpers/private-redis.js'
import { startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { freePort, newEncryptionKey } from './cluster.js'

const run = promisify(execFile)
const ACCESS_TOKEN_TTL_SEC = 300

interface Gateways { one: FastifyInstance, two: FastifyInstance, clock: ManualClock, idp: RunningIdp, upstream: TestUpstream }

/** Two gateways (replicas) on the given Redis variables, one IdP, one upstream, one manual clock. */
async function gateways (t: Test, redisEnv: Env): Promise<Gateways> {
  const clock = createManualClock()
  const idp = await startTestIdp(t, { clock, accessTokenTtlSec: ACCESS_TOKEN_TTL_SEC })
  const upstream = await startUpstream(t)
  const env = testEnv(idp, {
    SESSION_STORE: 'redis',
    SESSION_ENCRYPTION_KEY: newEncryptionKey(),
    REDIS_TIMEOUT: '2s',
    UPSTREAMS: `/api=${upstream.url}`,
    ...redisEnv
  })
  const one = await buildTestApp(t, { env, deps: { clock } })
  const two = await buildTestApp(t, { env, deps: { clock } })
  return { one, two, clock, idp, upstream }
}

/** A session made on one replica is served, listed, refreshed and ended through the other. */
async function sharedSessions (t: Test, { one, two, clock, idp, upstream }: Gateways): Promise<void> {
  const alice = await login(one, ALICE)
  const seen = await two.inject({ url: '/session', cookies: alice.cookies })
  t.equal(seen.statusCode, 200, 'the other replica knows the session')
  t.equal(seen.json().user.sub, 'auth0|alice0000000000000000001')
  const listed = await two.inject({ url: '/session/all', cookies: alice.cookies })
  t.equal(listed.statusCode, 200)
  t.equal(listed.json().sessions.length, 1, "the user's index lists it")

  t.equal((await two.inject({ url: '/api/first', cookies: alice.cookies })).statusCode, 200)
  const first = upstream.requests.at(-1)?.headers.authorization
  t.match(first, /^Bearer .+/, 'the upstream got a bearer token')

  clock.advance((ACCESS_TOKEN_TTL_SEC + 1) * 1000)
  t.equal((await one.inject({ url: '/api/second', cookies: alice.cookies })).statusCode, 200, 'served after a refresh')
  const second = upstream.requests.at(-1)?.headers.authorization
  t.not(second, first, 'with a new access token')
  t.equal(idp.stats.tokenCalls.refresh_token, 1, 'one refresh at the IdP')
  t.equal((await two.inject({ url: '/api/third', cookies: alice.cookies })).statusCode, 200)
  t.equal(upstream.requests.at(-1)?.headers.authorization, second, 'the other replica uses the rotated token')

  // The end is announced to the other replica over pub/sub (its WebSocket tunnels close on it, issue #15).
  const heard = new Promise<string>(resolve => { one.sessions.onEnded(resolve) })
  t.equal((await two.inject({ method: 'DELETE', url: '/session', headers: { 'x-csrf': '1' }, cookies: alice.cookies })).statusCode, 204)
  t.equal(await heard, storageKey(alice.value.slice(0, alice.value.lastIndexOf('.'))), 'the other replica heard the session end')
  const after = await one.inject({ url: '/session', cookies: { [COOKIE_NAME]: alice.value } })
  t.equal(after.statusCode, 401, 'logged out everywhere')
  t.equal(after.json().code, 'no_session')
}

t.test('Redis Cluster: three masters', async t => {
  const dir = await redisDir(t)
  const ports = [await freePort(), await freePort(), await freePort()]
  for (const port of ports) {
    const node = await startRedisServer([...serverArgs(port, dir), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`])
    t.teardown(async () => { await stopProcess(node, 'SIGKILL') })
  }
  const nodes = ports.map(port => `127.0.0.1:${port}`)
  // The gateways start before the cluster has its slots: they must not wait for it (a Cluster client keeps retrying
  // without failing), and answer 503 store_unavailable meanwhile.
  const gws = await gateways(t, { REDIS_CLUSTER_NODES: nodes.join(','), REDIS_KEY_PREFIX: 'bff:' })
  const early = await gws.one.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: ALICE })
  t.equal(early.statusCode, 503, 'no cluster yet: a login cannot be stored')
  t.equal(early.json().code, 'store_unavailable')
  // redis-cli assigns the slots; the clients connect by themselves once every node reports the cluster ok.
  await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'])
  await Promise.all([redisReady(gws.one.sessionRedis), redisReady(gws.two.sessionRedis)])
  await sharedSessions(t, gws)
})

/** A master, a replica of it and one Sentinel (quorum 1, the master down after 1 s): all on free ports, own files. */
async function sentinelSetup (t: Test): Promise<{ master: ChildProcess, masterPort: number, sentinel: ChildProcess, env: Env }> {
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
  const master = await startRedisServer(serverArgs(masterPort, await redisDir(t)))
  t.teardown(async () => { await stopProcess(master, 'SIGKILL') })
  const replica = await startRedisServer([...serverArgs(replicaPort, await redisDir(t)), '--replicaof', '127.0.0.1', String(masterPort)])
  t.teardown(async () => { await stopProcess(replica, 'SIGKILL') })
  // Sentinel rewrites its configuration file, so it gets one of its own.
  const dir = await redisDir(t)
  const config = join(dir, 'sentinel.conf')
  await writeFile(config, [
    `port ${sentinelPort}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel monitor gateway-test 127.0.0.1 ${masterPort} 1`,
    'sentinel down-after-milliseconds gateway-test 1000',
    'sentinel failover-timeout gateway-test 10000'
  ].join('\n') + '\n')
  const sentinel = await startRedisServer([config, '--sentinel'], '+monitor master')
  t.teardown(async () => { await stopProcess(sentinel, 'SIGKILL') })
  const env = { REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_MASTER: 'gateway-test', REDIS_URL: 'redis://127.0.0.1/2' }
  return { master, masterPort, sentinel, env }
}

t.test('Redis Sentinel: a master, its replica and one Sentinel', async t => {
  const { env } = await sentinelSetup(t)
  await sharedSessions(t, await gateways(t, env))
})

t.test('Sentinel failover: the master dies, the replica is promoted, the sessions go on', async t => {
  const { masterPort, master, sentinel, env } = await sentinelSetup(t)
  const gws = await gateways(t, env)
  const alice = await login(gws.one, ALICE)
  const admin = new Redis({ host: '127.0.0.1', port: masterPort, db: 2, lazyConnect: true })
  await admin.connect()
  t.equal(await admin.wait(1, 5_000), 1, 'the replica has the session before the master goes')
  admin.disconnect()

  const switched = outputOf(sentinel, '+switch-master')
  await stopProcess(master, 'SIGKILL')
  const during = await gws.two.inject({ url: '/session', cookies: alice.cookies })
  t.equal(during.statusCode, 503, 'no master: 503 meanwhile')
  t.equal(during.json().code, 'store_unavailable')
  await switched
  // The clients ask Sentinel for the master again on every reconnection: no restart, no configuration change.
  await Promise.all([redisReady(gws.one.sessionRedis), redisReady(gws.two.sessionRedis)])
  t.equal((await gws.two.inject({ url: '/session', cookies: alice.cookies })).statusCode, 200, 'the session was kept')
  const second = await login(gws.two, ALICE)
  t.equal((await gws.one.inject({ url: '/session', cookies: second.cookies })).statusCode, 200, 'and new sessions are written to the new master')
})

/** Resolves when a process prints the given text (from now on). */
async function outputOf (child: ChildProcess, text: string): Promise<void> {
  let out = ''
  await new Promise<void>(resolve => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString()
      if (!out.includes(text)) return
      child.stdout?.off('data', onData)
      resolve()
    }
    child.stdout?.on('data', onData)
  })
}
