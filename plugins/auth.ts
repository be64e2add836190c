import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../src/clock.js'
import { createIdentifierHasher } from '../src/crypto/identifier-hash.js'
import { GatewayError } from '../src/errors.js'
import { hasSessionAuthorization, signedSessionIdFrom } from '../src/session/header-session.js'
import type { SessionRecord } from '../src/session/session-store.js'
import { importAssertionKey, type ClientAuthentication } from '../src/token/client-auth.js'
import { createIdTokenVerifier, IdTokenError, profileClaims, type IdTokenVerifier } from '../src/token/id-token.js'
import { IdpError } from '../src/token/idp-error.js'
import { loginError, misconfigurationHint } from '../src/token/login-errors.js'
import { createTokenClient, type TokenClient } from '../src/token/token-client.js'
import type { TokenSet } from '../src/token/token-set.js'

declare module 'fastify' {
  interface FastifyInstance {
    tokenClient: TokenClient
    /** The gateway's client authentication at the IdP (token, revoke and MFA API calls). */
    idpClientAuth: ClientAuthentication
    idTokenVerifier: IdTokenVerifier
    /**
     * A short, stable handle for a username in logs: a keyed hash (LOG_HASH_KEY, or the first SESSION_SECRET), so a
     * guessed e-mail address cannot be checked against it (src/crypto/identifier-hash.ts).
     */
    hashIdentifier: (username: string) => string
    /** preHandler: sets request.session (or leaves it null) from the session cookie. Never fails on a bad cookie. */
    loadSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preHandler: like loadSession, but answers 401 no_session without a live session. */
    requireSession: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    auth: {
      login (request: FastifyRequest, reply: FastifyReply, credentials: Credentials): Promise<SessionRecord>
      /** Creates a session from a token response (password or MFA grants) and sets the cookie. */
      startSession (request: FastifyRequest, reply: FastifyReply, tokens: TokenSet, options?: StartSessionOptions): Promise<SessionRecord>
      logout (request: FastifyRequest, reply: FastifyReply): Promise<void>
      /** Ends the request's session after the IdP refused its refresh token (revoked anyway, see session-end.ts). */
      dropSession (request: FastifyRequest, reply: FastifyReply): Promise<void>
    }
  }
  interface FastifyRequest {
    session: SessionRecord | null
    sessionId: string
    /** How the request's session came: the cookie, or `Authorization: Session <handle>` (native clients). */
    sessionTransport: SessionTransport
  }
}

export interface Credentials {
  username: string
  password: string
  realm?: string | undefined
  /** `header`: answer with a session handle instead of setting the cookie (ALLOW_HEADER_SESSIONS). */
  session_transport?: SessionTransport | undefined
}

export type SessionTransport = 'cookie' | 'header'

export interface StartSessionOptions {
  /** `header`: no cookie is set; the caller hands out `sessionHandle(request.sessionId)`. Default `cookie`. */
  transport?: SessionTransport | undefined
}

export interface AuthPluginOptions {
  clock: Clock
  fetch?: typeof fetch | undefined
}

/** The longest User-Agent kept in a session record. */
const USER_AGENT_MAX = 256

/**
 * The auth plugin: exchanges credentials at the token endpoint, verifies the id_token, creates the server-side
 * session and its cookie, loads sessions from cookies, and ends them (revoking the refresh token).
 */
async function authPlugin (fastify: FastifyInstance, opts: AuthPluginOptions): Promise<void> {
  const { idp } = fastify.config
  const { clock } = opts
  const clientAuth: ClientAuthentication = idp.assertionKey !== undefined
    ? { method: 'private_key_jwt', clientId: idp.clientId, key: await importAssertionKey(idp.assertionKey.pem, idp.assertionKey.alg), alg: idp.assertionKey.alg, audience: idp.issuer }
    : { method: idp.authMethod === 'client_secret_basic' ? 'client_secret_basic' : 'client_secret_post', clientId: idp.clientId, clientSecret: idp.clientSecret ?? '' }

  const tokenClient = createTokenClient({
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
    fetch: opts.fetch
  })
  const idTokenVerifier = createIdTokenVerifier({
    issuer: idp.issuer,
    clientId: idp.clientId,
    alg: idp.idTokenAlg,
    jwksUrl: idp.jwksUrl,
    clientSecret: idp.clientSecret,
    clockToleranceSec: idp.clockToleranceSec,
    timeoutMs: idp.timeoutMs,
    clock,
    fetch: opts.fetch
  })
  fastify.decorate('tokenClient', tokenClient)
  // Every end of a session revokes its refresh token through here (src/session/session-end.ts).
  fastify.sessionEnder.setRevoker(async (refreshToken, context) => { await tokenClient.revoke(refreshToken, context) })
  fastify.decorate('idTokenVerifier', idTokenVerifier)
  const identifiers = createIdentifierHasher(fastify.config.logHashKey)
  fastify.decorate('hashIdentifier', identifiers.forLog)
  fastify.decorate('idpClientAuth', { getter: () => clientAuth })
  fastify.decorateRequest('session', null)
  fastify.decorateRequest('sessionId', '')
  fastify.decorateRequest('sessionTransport', 'cookie')

  const headerSessions = fastify.config.login.headerSessions

  /** Attaches the live session an id names, if any; true when one was attached. */
  async function attachSession (request: FastifyRequest, id: string, source: 'cookie' | 'handle'): Promise<boolean> {
    const record = await fastify.sessions.load(id)
    if (record === undefined) {
      request.log.debug(`session ${source} names no live session`)
      return false
    }
    request.session = record
    request.sessionId = id
    return true
  }

  /** A native client's `Authorization: Session <handle>`: the same signed id as the cookie, checked the same way. */
  async function loadHeaderSession (request: FastifyRequest): Promise<void> {
    request.sessionTransport = 'header'
    const handle = signedSessionIdFrom(request.headers.authorization)
    const verified = handle === undefined ? undefined : request.verifySignedSessionId(handle)
    if (verified !== undefined) await attachSession(request, verified.id, 'handle')
  }

  async function loadSession (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.session !== null) return
    // A request that presents a header session is judged by it alone (it skipped the CSRF header check for that).
    if (headerSessions && hasSessionAuthorization(request.headers.authorization)) {
      await loadHeaderSession(request)
      return
    }
    const cookie = request.readSessionCookie()
    if (cookie === undefined) return
    if (await attachSession(request, cookie.id, 'cookie') && cookie.renew) reply.setSessionCookie(cookie.id)
  }

  fastify.decorate('loadSession', loadSession)
  fastify.decorate('requireSession', async function (request: FastifyRequest, reply: FastifyReply) {
    await loadSession(request, reply)
    if (request.session === null) throw new GatewayError('no_session')
  })

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
    if (request.session !== null) {
      // Not awaited: the new session does not wait for the IdP to revoke the old token.
      fastify.sessions.end(request.sessionId, 'replaced', { ip: request.ip, log: request.log }).catch((err: unknown) => {
        request.log.warn({ code: err instanceof GatewayError ? err.code : 'error' }, 'the session this login replaces could not be ended')
      })
      request.session = null
    }
    const { id, record } = await fastify.sessions.create({
      sub,
      user,
      accessToken: tokens.accessToken,
      ...(tokens.refreshToken === undefined ? {} : { refreshToken: tokens.refreshToken }),
      expiresAt: tokens.expiresAt,
      lifetimeMs: tokens.lifetimeMs,
      scope: tokens.scope ?? idp.scope,
      // Shown in the user's list of sessions (GET /session/all): which device, from where.
      ...(typeof request.headers['user-agent'] === 'string' ? { userAgent: request.headers['user-agent'].slice(0, USER_AGENT_MAX) } : {}),
      ip: request.ip
    })
    request.session = record
    request.sessionId = id
    request.sessionTransport = options.transport ?? 'cookie'
    if (request.sessionTransport === 'cookie') reply.setSessionCookie(id)
    return record
  }

  fastify.decorate('auth', {
    async login (request: FastifyRequest, reply: FastifyReply, credentials: Credentials) {
      if (credentials.session_transport === 'header' && !headerSessions) throw new GatewayError('header_sessions_disabled')
      const realm = credentials.realm ?? idp.realm
      if (credentials.realm !== undefined && !idp.realms.includes(credentials.realm)) throw new GatewayError('invalid_realm')
      const user = identifiers.forLog(credentials.username)
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
      const record = request.session
      reply.clearSessionCookie()
      if (record === null) return
      await fastify.sessions.end(request.sessionId, 'logout', { ip: request.ip, log: request.log })
      request.session = null
      request.log.info({ event: 'logout', sub: record.sub }, 'session ended')
    },

    async dropSession (request: FastifyRequest, reply: FastifyReply) {
      reply.clearSessionCookie()
      if (request.sessionId !== '') await fastify.sessions.end(request.sessionId, 'refresh_refused', { ip: request.ip, log: request.log })
      request.session = null
    }
  })
}

export default fp(authPlugin, {
  fastify: '5.x',
  name: 'bff-auth',
  dependencies: ['bff-config', 'bff-sessions', 'bff-session-cookie']
})
