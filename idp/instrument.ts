import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CallState, IdpContext } from './context.js'
import { callState } from './context.js'
import { invalidRequest } from './errors.js'
import type { Endpoint, FaultSpec } from './faults.js'
import { isRecord } from './validate.js'

/** Request bodies enter as unknown; parameters become strings (numbers/booleans stringified), anything else is invalid_request. */
export function normaliseBody (body: unknown): Record<string, string> {
  if (body === undefined || body === null || body === '') return {}
  if (!isRecord(body)) throw invalidRequest('The request body must be an object.')
  const form: Record<string, string> = {}
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === 'string') form[key] = value
    else if (typeof value === 'number' || typeof value === 'boolean') form[key] = String(value)
    else if (value !== undefined && value !== null) throw invalidRequest(`Invalid parameter: ${key}`)
  }
  return form
}

function record (ctx: IdpContext, request: FastifyRequest, state: CallState, status: number): void {
  if (state.recorded) return
  state.recorded = true
  ctx.log.record({
    path: request.url.split('?')[0] ?? request.url,
    method: request.method,
    ...(state.grantType !== undefined && { grantType: state.grantType }),
    headers: { ...request.headers },
    form: state.form,
    ...(state.clientAuthMethod !== undefined && { clientAuthMethod: state.clientAuthMethod }),
    ...(state.forwardedFor !== undefined && { forwardedFor: state.forwardedFor }),
    effectiveIp: state.effectiveIp,
    status
  })
}

/** Answers from a fault, or returns false to let the route run (latency-only or id_token tampering). */
async function applyFault (ctx: IdpContext, request: FastifyRequest, reply: FastifyReply, state: CallState, fault: FaultSpec): Promise<boolean> {
  if (fault.latencyMs !== undefined && fault.latencyMs > 0) await delay(fault.latencyMs)
  if (fault.destroySocket === true) {
    record(ctx, request, state, 0)
    reply.hijack()
    request.raw.socket.destroy()
    return true
  }
  if (fault.rateLimit !== undefined) {
    const rl = fault.rateLimit === true ? {} : fault.rateLimit
    const nowSec = Math.floor(ctx.clock.now() / 1000)
    reply.code(429).headers({
      'x-ratelimit-limit': String(rl.limit ?? 30),
      'x-ratelimit-remaining': String(rl.remaining ?? 0),
      'x-ratelimit-reset': String(nowSec + (rl.resetInSec ?? 60)),
      ...(rl.retryAfterSec !== undefined && { 'retry-after': String(rl.retryAfterSec) }),
      ...fault.headers
    })
    await reply.send({ error: 'too_many_requests', error_description: 'Rate limit exceeded.' })
    return true
  }
  if (fault.status !== undefined) {
    reply.code(fault.status)
    if (typeof fault.body === 'string') reply.header('content-type', 'application/json; charset=utf-8')
    reply.headers(fault.headers ?? {})
    await reply.send(fault.body === undefined ? '' : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body))
    return true
  }
  if (fault.idToken !== undefined) state.tamper = fault.idToken
  return false
}

/**
 * Adds the test-tool hooks to one endpoint's scope: call recording, stats, the hold gate and fault injection.
 * Faults and holds run after body parsing so they can match on grant_type.
 */
export function instrument (scope: FastifyInstance, ctx: IdpContext, endpoint: Endpoint): void {
  scope.addHook('onRequest', async request => {
    ctx.calls.set(request, {
      endpoint,
      form: {},
      effectiveIp: request.socket.remoteAddress ?? request.ip,
      recorded: false
    })
  })

  scope.addHook('preHandler', async (request, reply) => {
    const state = callState(ctx, request)
    state.form = normaliseBody(request.body)
    if (endpoint === 'token') {
      state.grantType = state.form.grant_type
      ctx.log.countTokenCall(state.grantType)
    } else if (endpoint === 'revoke') {
      ctx.log.stats.revokeCalls += 1
    } else if (endpoint === 'userinfo') {
      ctx.log.stats.userinfoCalls += 1
    }
    await ctx.holds.pass(endpoint)
    const fault = ctx.faults.take(endpoint, state.grantType)
    if (fault !== undefined && await applyFault(ctx, request, reply, state, fault)) return reply
    return undefined
  })

  scope.addHook('onResponse', async (request, reply) => {
    const state = ctx.calls.get(request)
    if (state !== undefined) record(ctx, request, state, reply.statusCode)
  })
}
