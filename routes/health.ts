import type { FastifyInstance } from 'fastify'

/** GET /healthz: the process answers. Logged below info so probes do not flood the logs. */
export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get('/healthz', {
    logLevel: 'warn',
    schema: {
      response: {
        200: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { type: 'string', const: 'ok' } } }
      }
    }
  }, async () => ({ status: 'ok' as const }))
}
