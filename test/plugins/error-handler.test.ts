import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import errorHandlerPlugin from '../../plugins/error-handler.js'
import { GatewayError } from '../../src/errors.js'
import { captureLogs, type LogCapture } from '../helpers/gateway.js'

async function bare (t: { teardown (fn: () => unknown): void }, routes: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, logs: LogCapture }> {
  const logs = captureLogs()
  const app = Fastify({ logger: { level: 'info', stream: logs.stream } })
  await app.register(errorHandlerPlugin)
  routes(app)
  t.teardown(async () => { await app.close() })
  await app.ready()
  return { app, logs }
}

const SHAPE = ['code', 'error', 'message', 'statusCode']

t.test('a GatewayError keeps its code, status and message; Retry-After when it has one', async t => {
  const { app, logs } = await bare(t, app => {
    app.get('/limited', async () => { throw new GatewayError('rate_limited', { retryAfter: 9 }) })
    app.get('/denied', async () => { throw new GatewayError('access_denied') })
  })
  const limited = await app.inject({ url: '/limited' })
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '9')
  t.same(limited.json(), { statusCode: 429, code: 'rate_limited', error: 'Too Many Requests', message: 'Too many requests; retry later' })
  const denied = await app.inject({ url: '/denied' })
  t.equal(denied.statusCode, 403)
  t.equal(denied.headers['retry-after'], undefined)
  t.equal(denied.json().code, 'access_denied')
  t.equal(logs.lines().filter(l => (l.level as number) >= 40).length, 0, '4xx are not logged as problems')
})

t.test('a 5xx GatewayError is logged as a warning with its cause', async t => {
  const { app, logs } = await bare(t, app => {
    app.get('/down', async () => { throw new GatewayError('idp_unavailable', { cause: new Error('ECONNREFUSED') }) })
  })
  const res = await app.inject({ url: '/down' })
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'idp_unavailable')
  const warn = logs.lines().find(l => l.level === 40)
  t.equal(warn?.code, 'idp_unavailable')
})

t.test('a status override is kept', async t => {
  const { app } = await bare(t, app => {
    app.get('/x', async () => { throw new GatewayError('idp_unavailable', { statusCode: 503 }) })
  })
  const res = await app.inject({ url: '/x' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error, 'Service Unavailable')
})

t.test('validation errors: 400 invalid_request', async t => {
  const { app } = await bare(t, app => {
    app.post('/v', { schema: { body: { type: 'object', required: ['a'], properties: { a: { type: 'string' } } } } }, async () => ({ ok: true }))
  })
  const res = await app.inject({ method: 'POST', url: '/v', payload: { b: 1 } })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'invalid_request')
  t.same(Object.keys(res.json()).sort(), SHAPE)
})

t.test('fastify body errors: too large 413, bad JSON 400, bad media type 415', async t => {
  const { app } = await bare(t, app => {
    app.post('/b', { bodyLimit: 10 }, async () => ({ ok: true }))
  })
  t.equal((await app.inject({ method: 'POST', url: '/b', payload: { long: 'x'.repeat(50) } })).json().code, 'payload_too_large')
  const badJson = await app.inject({ method: 'POST', url: '/b', headers: { 'content-type': 'application/json' }, payload: '{' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().code, 'invalid_body')
  const empty = await app.inject({ method: 'POST', url: '/b', headers: { 'content-type': 'application/json' }, payload: '' })
  t.equal(empty.json().code, 'invalid_body')
  const media = await app.inject({ method: 'POST', url: '/b', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })
  t.equal(media.statusCode, 415)
  t.equal(media.json().code, 'unsupported_media_type')
})

t.test('a SyntaxError from a parser: 400 invalid_body', async t => {
  const { app } = await bare(t, app => {
    app.get('/s', async () => { throw new SyntaxError('Unexpected token') })
  })
  const res = await app.inject({ url: '/s' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'invalid_body')
})

t.test('another 4xx error keeps its status as invalid_request', async t => {
  const { app } = await bare(t, app => {
    app.get('/c', async () => { throw Object.assign(new Error('Conflict here'), { statusCode: 409 }) })
  })
  const res = await app.inject({ url: '/c' })
  t.equal(res.statusCode, 409)
  t.equal(res.json().code, 'invalid_request')
})

t.test('anything unexpected: generic 500 internal_error, logged with its stack, nothing internal in the body', async t => {
  const { app, logs } = await bare(t, app => {
    app.get('/boom', async () => { throw new Error('database password is hunter2') })
    app.get('/boom5xx', async () => { throw Object.assign(new Error('upstream detail'), { statusCode: 503 }) })
  })
  for (const url of ['/boom', '/boom5xx']) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, 500, url)
    t.same(res.json(), { statusCode: 500, code: 'internal_error', error: 'Internal Server Error', message: 'Internal server error' })
    t.notMatch(res.body, /hunter2|upstream detail|at /)
  }
  const line = logs.lines().find(l => l.level === 50)
  t.equal(line?.msg, 'unexpected error')
  t.match(line, { err: { message: 'database password is hunter2', stack: /Error/ } })
})

t.test('unknown routes: 404 not_found naming the method and path, not the query', async t => {
  const { app } = await bare(t, () => {})
  const res = await app.inject({ method: 'PATCH', url: '/missing?code=abc' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'not_found', error: 'Not Found', message: 'No route for PATCH /missing' })
})
