import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createIdentifierHasher } from '../src/crypto/identifier-hash.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A short, stable handle for a username in logs: a keyed hash (LOG_HASH_KEY, or the first SESSION_SECRET), so a
     * guessed e-mail address cannot be checked against it (src/crypto/identifier-hash.ts).
     */
    hashIdentifier: (username: string) => string
  }
}

/** The log handle for usernames, shared by login, MFA and the login throttle. */
async function identifierHashPlugin (fastify: FastifyInstance): Promise<void> {
  fastify.decorate('hashIdentifier', createIdentifierHasher(fastify.config.logHashKey).forLog)
}

export default fp(identifierHashPlugin, { fastify: '5.x', name: 'bff-identifier-hash', dependencies: ['bff-config'] })
