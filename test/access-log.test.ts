/**
 * One access line per request at info (src/logging/access-log-controller.ts): `request completed` with the request, status, time and
 * request id; `incoming request` only at debug; the probes (logLevel warn) write none.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import pino from 'pino'
import t from 'tap'
import { AccessLogController } from '../plugins/access-log-controller.js'
import { buildTestApp, captureLogs, login, startTestIdp, testEnv } from './helpers/gateway.js'
import { startUpstream } from './helpers/upstream.js'

t.test('at info: one line per request, with what an access log needs', async t => {
  const idp = await startTestIdp(t)
  const upstream = await startUpstream(t)
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'info', UPSTREAMS: `/api=${upstream.url}` }), logs })
  const { cookies } = await login(app)
  const before = logs.lines().length
  const res = await app.inject({ url: '/api/orders/7?secret=query', cookies })
  t.equal(res.statusCode, 200)
  const lines = logs.lines().slice(before)
  t.equal(lines.length, 1, 'a proxied call writes exactly one line')
  t.match(lines[0], {
    level: 30,
    msg: 'request completed',
    reqId: res.headers['x-request-id'] ?? String,
    req: { method: 'GET', url: '/api/orders/7', remoteAddress: '127.0.0.1' },
    res: { statusCode: 200 },
    responseTime: Number
  })
  t.notMatch(JSON.stringify(lines[0]), /secret=query/, 'the query string is not logged')
  t.notOk(logs.lines().some(line => line.msg === 'incoming request'), 'no incoming-request lines at info')

  const refused = await app.inject({ url: '/api/orders' })
  t.equal(refused.statusCode, 401)
  t.match(logs.lines().at(-1), { msg: 'request completed', res: { statusCode: 401 } }, 'refused requests are logged too')
  const probes = logs.lines().length
  await app.inject({ url: '/healthz' })
  await app.inject({ url: '/readyz' })
  t.equal(logs.lines().length, probes, 'the probes write nothing at info')
})

t.test('at debug: the incoming line too, with the same request id', async t => {
  const idp = await startTestIdp(t)
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'debug' }), logs })
  await app.inject({ url: '/session' })
  const lines = logs.lines().filter(line => line.msg === 'incoming request' || line.msg === 'request completed')
  t.same(lines.map(line => line.msg), ['incoming request', 'request completed'])
  t.equal(lines[0]?.reqId, lines[1]?.reqId)
  t.match(lines[0], { req: { method: 'GET', url: '/session' } })
})

t.test('at warn: no access lines', async t => {
  const idp = await startTestIdp(t)
  const logs = captureLogs()
  const app = await buildTestApp(t, { env: testEnv(idp, { LOG_LEVEL: 'warn' }), logs })
  await app.inject({ url: '/session' })
  t.same(logs.lines(), [])
})

t.test('a request that failed on the way out is logged as Fastify logs it: request errored, at error', async t => {
  const logs = captureLogs()
  const logger = pino({ level: 'info' }, logs.stream)
  const controller = new AccessLogController()
  // Just what the controller and Fastify's own method read: a request id, loggers, the elapsed time, the status.
  const request = { id: 'req-x-1', log: logger, server: { log: logger } } as unknown as FastifyRequest
  const reply = { log: logger.child({ reqId: 'req-x-1' }), elapsedTime: 12.5, statusCode: 200 } as unknown as FastifyReply
  controller.requestCompleted(new Error('socket hang up'), request, reply)
  t.match(logs.lines(), [{ level: 50, msg: 'request errored', reqId: 'req-x-1', err: { message: 'socket hang up' }, responseTime: 12.5 }])
  controller.requestCompleted(null, request, reply)
  t.match(logs.lines()[1], { level: 30, msg: 'request completed', reqId: 'req-x-1', responseTime: 12.5 })
})
