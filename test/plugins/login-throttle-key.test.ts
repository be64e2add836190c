import t from 'tap'
import { buildApp } from '../../app.js'
import { loadConfig } from '../../fastify.config.js'
import { resolveEndpoints } from '../../src/oidc/discovery.js'
import { ALICE, startTestIdp, testEnv } from '../helpers/gateway.js'
import { createManualClock } from '../helpers/manual-clock.js'

const clock = createManualClock()
const idp = await startTestIdp(t, { clock, bruteForceThreshold: 0 })

// Issue #16: the limit's key was a request decoration named `loginThrottleKey`: a plugin of the embedder's with a
// decoration of that name stopped the gateway from starting, and anything could read or set it between the
// throttle's write and the limiter's read. It is a Symbol-keyed decoration now, as @fastify/rate-limit keeps its own.
t.test('the throttle key is no named request decoration: another plugin may use the name, the limits still count', async t => {
  const app = buildApp({ config: await resolveEndpoints(loadConfig(testEnv(idp, { LOG_LEVEL: 'silent', LOGIN_RATE_LIMIT_IP_USER: '3/1m' }))), deps: { clock } })
  t.teardown(async () => { await app.close() })
  app.decorateRequest('loginThrottleKey', 'the embedder\'s')
  const seen: unknown[] = []
  app.addHook('onResponse', async request => { seen.push((request as unknown as Record<string, unknown>).loginThrottleKey) })
  await app.ready()
  const attempt = async (): Promise<number> => (await app.inject({ method: 'POST', url: '/session', headers: { 'x-csrf': '1' }, payload: { ...ALICE, password: 'wrong-password' } })).statusCode
  t.same([await attempt(), await attempt(), await attempt()], [401, 401, 401])
  t.equal(await attempt(), 429, 'LOGIN_RATE_LIMIT_IP_USER still counts per IP and username')
  t.same(seen, ['the embedder\'s', 'the embedder\'s', 'the embedder\'s', 'the embedder\'s'], 'the embedder\'s decoration is left alone')
})
