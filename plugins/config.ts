import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { AppConfig } from '../fastify.config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig
  }
}

async function configPlugin (fastify: FastifyInstance, opts: { config: AppConfig }): Promise<void> {
  fastify.decorate('config', opts.config)
}

export default fp(configPlugin, { fastify: '5.x', name: 'bff-config' })
