/**
 * Redis goes away under a running gateway (its own redis-server on a free port; the shared one is never touched):
 * requests that need a session get 503 store_unavailable with a clear log line, nothing crashes, and when Redis
 * is back (with the sessions it saved) the gateway serves them again by itself. A gateway started with no Redis at all
 * starts anyway and serves as soon as Redis is there.
 * The gateway runs in this process (buildApp); the replica tests next to this one use separate processes.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { buildTestApp, captureLogs, login, startTestIdp, testEnv } from '../helpers/gateway.js'
import { redisDir, redisReady, serverArgs, startRedisServer, stopProcess } from '../helpers/private-redis.js'
import { freePort, newEncryptionKey } from './cluster.js'

t.test('Redis stopped and restarted: 503 store_unavailable meanwhile, then recovery with the saved sessions', async t => {
  const port = await freePort()
  const dir = await redisDir(t)
  let redis = await startRedisServer(serverArgs(port, dir))
  t.teardown(async () => { await stopProcess(redis, 'SIGKILL') })
  const idp = await startTestIdp(t)
  const logs = captureLogs()
  const app = await buildTestApp(t, {
    env: testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}/3`, SESSION_ENCRYPTION_KEY: newEncryptionKey(), REDIS_TIMEOUT: '500ms', LOG_LEVEL: 'info' }),
    logs
  })
  const { cookies } = await login(app)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200)

  // Stopped, with its data saved first (a restart then brings the sessions back, as a persistent Redis would).
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 })
  await admin.connect()
  t.equal(await admin.save(), 'OK')
  admin.disconnect()
  await stopProcess(redis, 'SIGTERM')

  const during = await app.inject({ url: '/session', cookies })
  t.equal(during.statusCode, 503)
  t.equal(during.json().code, 'store_unavailable')
  const loginDuring = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { username: 'alice@example.com', password: 'alice-password-1' } })
  // The login throttle's counters are in Redis too: it fails closed, as the store does.
  t.equal(loginDuring.statusCode, 503, 'a login cannot create a session either')
  t.equal(loginDuring.json().code, 'store_unavailable')
  t.equal((await app.inject({ url: '/session' })).statusCode, 401, 'a request without a cookie needs no store: answered as usual')
  // Logged when ioredis reports the closed connection, which can come after the first 503s (a command fails at once
  // on a socket the server has ended but Node has not closed yet).
  const unreachable = await logs.waitFor(line => String(line.msg).includes('Redis unreachable'))
  t.equal(unreachable.level, 50, 'an error line says Redis is unreachable')
  t.equal(unreachable.redis, `127.0.0.1:${port} db 3`, 'naming the host and db (never the URL, which may hold a password)')

  // Back, on the same port and data directory: ioredis reconnects by itself.
  redis = await startRedisServer(serverArgs(port, dir))
  await redisReady(app.sessionRedis)
  const after = await app.inject({ url: '/session', cookies })
  t.equal(after.statusCode, 200, 'the session Redis kept is served again')
  const recovered = await logs.waitFor(line => String(line.msg).includes('Redis reachable again'))
  t.equal(recovered.level, 30, 'and the recovery is logged')
})

t.test('a Redis that stops answering (paused): 503 within REDIS_TIMEOUT, then recovery', async t => {
  const port = await freePort()
  const dir = await redisDir(t)
  const redis = await startRedisServer(serverArgs(port, dir))
  t.teardown(async () => {
    redis.kill('SIGCONT')
    await stopProcess(redis, 'SIGKILL')
  })
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, {
    env: testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, SESSION_ENCRYPTION_KEY: newEncryptionKey(), REDIS_TIMEOUT: '300ms' })
  })
  const { cookies } = await login(app)
  redis.kill('SIGSTOP')
  const started = Date.now()
  const during = await app.inject({ url: '/session', cookies })
  const elapsed = Date.now() - started
  t.equal(during.statusCode, 503)
  t.equal(during.json().code, 'store_unavailable')
  t.ok(elapsed < 2_000, `answered in ${elapsed} ms, not hanging`)
  redis.kill('SIGCONT')
  await redisReady(app.sessionRedis)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200)
})

t.test('no Redis at boot: the gateway starts, /readyz says the store is failing, logins get 503; then Redis comes', async t => {
  const port = await freePort()
  const dir = await redisDir(t)
  const idp = await startTestIdp(t)
  const app = await buildTestApp(t, {
    env: testEnv(idp, { SESSION_STORE: 'redis', REDIS_URL: `redis://127.0.0.1:${port}`, SESSION_ENCRYPTION_KEY: newEncryptionKey(), REDIS_TIMEOUT: '300ms' })
  })
  const readyz = await app.inject({ url: '/readyz' })
  t.equal(readyz.statusCode, 503)
  t.match(readyz.json(), { status: 'not_ready', checks: { store: 'failing' } })
  const refused = await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { username: 'alice@example.com', password: 'alice-password-1' } })
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().code, 'store_unavailable')

  const redis = await startRedisServer(serverArgs(port, dir))
  t.teardown(async () => { await stopProcess(redis, 'SIGKILL') })
  await redisReady(app.sessionRedis)
  t.match((await app.inject({ url: '/readyz' })).json(), { status: 'ready', checks: { store: 'ok' } })
  const { cookies } = await login(app)
  t.equal((await app.inject({ url: '/session', cookies })).statusCode, 200, 'sessions work once it is there, without a restart')
})
