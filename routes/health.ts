import type { FastifyInstance } from 'fastify'
import type {} from '@fastify/rate-limit'

/** Per check: `ok` or `failing`. */
type CheckState = 'ok' | 'failing'

/** A readiness check of the store that does not answer within this long fails. */
const STORE_CHECK_TIMEOUT_MS = 2_000
/** A key no session has (session keys are SHA-256 digests): reading it proves the store answers. */
const PROBE_KEY = 'bff:readyz-probe'

const probeOptions = {
  // Probes are frequent: logged below info, never rate-limited, and CSRF rules never apply (no verifyCsrf hook).
  // Orchestrators probe by IP, so PUBLIC_ORIGIN's Host check does not apply either.
  logLevel: 'warn',
  config: { rateLimit: false, anyHost: true }
} as const

/**
 * GET /healthz: the process answers (liveness). GET /readyz: the session store answers and the IdP's signing keys
 * are loaded (readiness); otherwise 503 naming the failing check. The keys are fetched in the background when the app
 * starts listening, and again by a probe that finds them missing, so readiness turns green without a login.
 */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  const store = fastify.sessionStore
  const verifier = fastify.idTokenVerifier
  let warming: Promise<void> | undefined

  /** One JWKS fetch at a time, however many probes ask. */
  async function warmUp (): Promise<void> {
    warming ??= verifier.warmUp().catch((err: unknown) => {
      fastify.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'cannot fetch the IdP signing keys (JWKS) yet; /readyz answers 503 until they load')
    }).finally(() => { warming = undefined })
    await warming
  }

  fastify.addHook('onListen', async () => {
    if (!verifier.keysLoaded) void warmUp()
  })

  async function checkStore (): Promise<CheckState> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`no answer within ${STORE_CHECK_TIMEOUT_MS} ms`)) }, STORE_CHECK_TIMEOUT_MS)
      timer.unref()
    })
    try {
      await Promise.race([store.ping === undefined ? store.get(PROBE_KEY) : store.ping(), timeout])
      return 'ok'
    } catch (err) {
      fastify.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'readiness: the session store does not answer')
      return 'failing'
    } finally {
      clearTimeout(timer)
    }
  }

  async function checkKeys (): Promise<CheckState> {
    if (!verifier.keysLoaded) await warmUp()
    return verifier.keysLoaded ? 'ok' : 'failing'
  }

  fastify.get('/healthz', {
    ...probeOptions,
    schema: {
      response: {
        200: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { type: 'string', const: 'ok' } } }
      }
    }
  }, async () => ({ status: 'ok' as const }))

  const checks = {
    type: 'object',
    required: ['store', 'idp_keys'],
    additionalProperties: false,
    properties: { store: { type: 'string', enum: ['ok', 'failing'] }, idp_keys: { type: 'string', enum: ['ok', 'failing'] } }
  } as const
  const readiness = (status: string) => ({
    type: 'object',
    required: ['status', 'checks'],
    additionalProperties: false,
    properties: { status: { type: 'string', const: status }, checks }
  } as const)

  fastify.get('/readyz', {
    ...probeOptions,
    schema: { response: { 200: readiness('ready'), 503: readiness('not_ready') } }
  }, async (_request, reply) => {
    const [storeState, keysState] = await Promise.all([checkStore(), checkKeys()])
    const ready = storeState === 'ok' && keysState === 'ok'
    reply.code(ready ? 200 : 503).header('cache-control', 'no-store')
    return { status: ready ? 'ready' : 'not_ready', checks: { store: storeState, idp_keys: keysState } }
  })
}
