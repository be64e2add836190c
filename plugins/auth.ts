import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError } from '../src/errors.js'
import type { SessionRecord } from '../src/session/session-store.js'
import { IdTokenError, profileClaims } from '../src/token/id-token.js'
import { IdpError } from '../src/token/idp-error.js'
import { loginError, misconfigurationHint } from '../src/token/login-errors.js'
import { tokenFields, type TokenSet } from '../src/token/token-set.js'
import type { SessionTransport } from './session-loader.js'

declare module 'fastify' {
  interface FastifyInstance {
    gatewayAuth: {
      login (request: FastifyRequest, reply: FastifyReply, credentials: Credentials): Promise<SessionRecord>
      /** Creates a session from a token response (password or MFA grants) and sets the cookie. */
      startSession (request: FastifyRequest, reply: FastifyReply, tokens: TokenSet, options?: StartSessionOptions): Promise<SessionRecord>
      logout (request: FastifyRequest, reply: FastifyReply): Promise<void>
    }
  }
}

export interface Credentials {
  username: string
  password: string
  realm?: string | undefined
  /** `header`: answer with a session handle instead of setting the cookie (ALLOW_HEADER_SESSIONS). */
  session_transport?: SessionTransport | undefined
}

export interface StartSessionOptions {
  /** `header`: no cookie is set; the caller hands out `sessionHandle(request.sessionId)`. Default `cookie`. */
  transport?: SessionTransport | undefined
}

/** The longest User-Agent kept in a session record. */
const USER_AGENT_MAX = 256

/**
 * Login and logout: exchanges credentials at the token endpoint, verifies the id_token, creates the server-side
 * session and its cookie, and ends sessions (revoking the refresh token). The IdP clients come from plugins/idp.ts,
 * the request's session from plugins/session-loader.ts.
 */
async function authPlugin (fastify: FastifyInstance): Promise<void> {
  const { idp } = fastify.config
  const { tokenClient, idTokenVerifier, loadSession } = fastify
  const headerSessions = fastify.config.login.headerSessions
  // Every end of a session revokes its refresh token through here (src/session/session-end.ts).
  fastify.sessionEnder.setRevoker(async (refreshToken, context) => { await tokenClient.revoke(refreshToken, context) })

  /** Verifies the id_token (when there is one) and turns it into the session's user. */
  async function userFrom (tokens: TokenSet, log: FastifyRequest['log']): Promise<{ sub: string, user: Record<string, unknown> }> {
    if (tokens.idToken === undefined) return { sub: '', user: {} }
    try {
      const claims = await idTokenVerifier.verify(tokens.idToken)
      return { sub: String(claims.sub), user: profileClaims(claims) }
    } catch (err) {
      /* c8 ignore next -- verify only throws IdTokenError */
      if (!(err instanceof IdTokenError)) throw err
      if (err.unavailable) {
        log.error({ reason: err.message }, 'cannot fetch the IdP signing keys (JWKS) to verify the id_token')
        throw new GatewayError('idp_unavailable', { cause: err })
      }
      log.error({ reason: err.message }, 'id_token failed verification: check AUTH0_DOMAIN (issuer), AUTH0_CLIENT_ID (audience) and AUTH0_ID_TOKEN_SIGNING_ALG')
      throw new GatewayError('gateway_misconfigured', { cause: err })
    }
  }

  async function startSession (request: FastifyRequest, reply: FastifyReply, tokens: TokenSet, options: StartSessionOptions = {}): Promise<SessionRecord> {
    const { sub, user } = await userFrom(tokens, request.log)
    // Session fixation: whatever session the request came with is ended before a new one starts.
    await loadSession(request, reply)
    if (request.gatewaySession !== null) {
      // Not awaited: the new session does not wait for the IdP to revoke the old token.
      fastify.sessions.end(request.sessionId, 'replaced', { ip: request.ip, log: request.log }).catch((err: unknown) => {
        request.log.warn({ code: err instanceof GatewayError ? err.code : 'error' }, 'the session this login replaces could not be ended')
      })
      request.gatewaySession = null
    }
    const { id, record } = await fastify.sessions.create({
      sub,
      user,
      ...tokenFields(tokens, idp.scope),
      // Shown in the user's list of sessions (GET /session/all): which device, from where.
      ...(typeof request.headers['user-agent'] === 'string' ? { userAgent: request.headers['user-agent'].slice(0, USER_AGENT_MAX) } : {}),
      ip: request.ip
    })
    request.gatewaySession = record
    request.sessionId = id
    request.sessionTransport = options.transport ?? 'cookie'
    if (request.sessionTransport === 'cookie') reply.setSessionCookie(id)
    return record
  }

  fastify.decorate('gatewayAuth', {
    async login (request: FastifyRequest, reply: FastifyReply, credentials: Credentials) {
      if (credentials.session_transport === 'header' && !headerSessions) throw new GatewayError('header_sessions_disabled')
      const realm = credentials.realm ?? idp.realm
      if (credentials.realm !== undefined && !idp.realms.includes(credentials.realm)) throw new GatewayError('invalid_realm')
      const user = fastify.hashIdentifier(credentials.username)
      let tokens: TokenSet
      try {
        tokens = await tokenClient.password({ username: credentials.username, password: credentials.password, realm, ip: request.ip })
      } catch (err) {
        /* c8 ignore next -- the token client only throws IdpError */
        if (!(err instanceof IdpError)) throw err
        const mapped = loginError(err)
        if (mapped.code === 'gateway_misconfigured') request.log.error({ idp: err.toJSON() }, misconfigurationHint(err))
        request.log.info({ event: 'login', outcome: mapped.code, user, realm, idp: err.toJSON() }, 'login refused')
        throw mapped
      }
      const record = await startSession(request, reply, tokens, { transport: credentials.session_transport })
      request.log.info({ event: 'login', outcome: 'ok', user, realm, sub: record.sub }, 'login succeeded')
      return record
    },

    startSession,

    async logout (request: FastifyRequest, reply: FastifyReply) {
      await loadSession(request, reply)
      const record = request.gatewaySession
      reply.clearSessionCookie()
      if (record === null) return
      await fastify.sessions.end(request.sessionId, 'logout', { ip: request.ip, log: request.log })
      request.gatewaySession = null
      request.log.info({ event: 'logout', sub: record.sub }, 'session ended')
    }
  })
}

export default fp(authPlugin, {
  fastify: '5.x',
  name: 'bff-auth',
  dependencies: ['bff-config', 'bff-sessions', 'bff-session-cookie', 'bff-idp', 'bff-session-loader', 'bff-identifier-hash']
})
