import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Clock } from '../src/clock.js'
import { importAssertionKey, type ClientAuthentication } from '../src/token/client-auth.js'
import { createIdTokenVerifier, type IdTokenVerifier } from '../src/token/id-token.js'
import { createTokenClient, type TokenClient } from '../src/token/token-client.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenClient: TokenClient
    /** The gateway's client authentication at the IdP (token, revoke and MFA API calls). */
    idpClientAuth: ClientAuthentication
    idTokenVerifier: IdTokenVerifier
    /** The one fetch for every IdP call (buildApp instruments it: bff_idp_request_duration_seconds). */
    idpFetch: typeof fetch
  }
}

export interface IdpPluginOptions {
  clock: Clock
  /** The fetch for IdP calls (instrumented by buildApp); the global fetch by default. */
  fetch?: typeof fetch | undefined
}

/**
 * The gateway's clients of its identity provider, built once from the configuration: its client authentication, the
 * token client (password, MFA and refresh grants, revocation) and the id_token verifier, all on one fetch.
 */
async function idpPlugin (fastify: FastifyInstance, opts: IdpPluginOptions): Promise<void> {
  const { idp } = fastify.config
  const { clock } = opts
  const idpFetch = opts.fetch ?? globalThis.fetch
  const clientAuth: ClientAuthentication = idp.assertionKey !== undefined
    ? { method: 'private_key_jwt', clientId: idp.clientId, key: await importAssertionKey(idp.assertionKey.pem, idp.assertionKey.alg), alg: idp.assertionKey.alg, audience: idp.issuer }
    : { method: idp.authMethod === 'client_secret_basic' ? 'client_secret_basic' : 'client_secret_post', clientId: idp.clientId, clientSecret: idp.clientSecret ?? '' }

  fastify.decorate('tokenClient', createTokenClient({
    tokenUrl: idp.tokenUrl,
    revokeUrl: idp.revokeUrl,
    auth: clientAuth,
    timeoutMs: idp.timeoutMs,
    clock,
    scope: idp.scope,
    audience: idp.audience,
    // OIDC_ISSUER: auth0-forwarded-for only with OIDC_AUTH0_EXTENSIONS=on; revocation as RFC 7009 (form).
    forwardClientIp: idp.auth0Extensions,
    revokeEncoding: idp.provider === 'oidc' ? 'form' : 'json',
    fetch: idpFetch
  }))
  fastify.decorate('idTokenVerifier', createIdTokenVerifier({
    issuer: idp.issuer,
    clientId: idp.clientId,
    alg: idp.idTokenAlg,
    jwksUrl: idp.jwksUrl,
    clientSecret: idp.clientSecret,
    clockToleranceSec: idp.clockToleranceSec,
    timeoutMs: idp.timeoutMs,
    clock,
    fetch: idpFetch
  }))
  fastify.decorate('idpClientAuth', { getter: () => clientAuth })
  fastify.decorate('idpFetch', { getter: () => idpFetch })
}

export default fp(idpPlugin, { fastify: '5.x', name: 'bff-idp', dependencies: ['bff-config'] })
