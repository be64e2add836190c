import { randomBytes, randomUUID } from 'node:crypto'
import { SignJWT, base64url, jwtVerify } from 'jose'
import type { JWTPayload } from 'jose'
import type { Clock } from '../src/clock.js'
import type { RegisteredClient } from './clients.js'
import type { DirectoryUser } from './directory.js'
import type { KeyStore } from './keys.js'
import { profileClaims } from './profile.js'

export type IdTokenTamper =
  'bad_signature' | 'wrong_aud' | 'wrong_iss' | 'expired' | 'alg_none' | 'missing_sub' | 'multi_aud_no_azp' | 'hs256'

export const ID_TOKEN_TAMPERS: readonly IdTokenTamper[] =
  ['bad_signature', 'wrong_aud', 'wrong_iss', 'expired', 'alg_none', 'missing_sub', 'multi_aud_no_azp', 'hs256']

export interface AccessTokenInput {
  user: DirectoryUser
  client: RegisteredClient
  audience: string | undefined
  scopes: readonly string[]
  gty?: string
}

export interface IdTokenInput {
  user: DirectoryUser
  client: RegisteredClient
  scopes: readonly string[]
  tamper?: IdTokenTamper | undefined
}

export interface TokenMinter {
  accessToken (input: AccessTokenInput): Promise<string>
  idToken (input: IdTokenInput): Promise<string>
  /** Signature (any published key), issuer and exp against the clock. Throws on failure. */
  verifyAccessToken (token: string): Promise<JWTPayload>
}

export interface TokenMinterOptions {
  keys: KeyStore
  clock: Clock
  issuer: () => string
  accessTokenTtlSec: number
  idTokenTtlSec: number
}

/** Opaque refresh token: 32 random bytes, base64url. */
export function newRefreshToken (): string {
  return randomBytes(32).toString('base64url')
}

const encoder = new TextEncoder()

export function createTokenMinter (opts: TokenMinterOptions): TokenMinter {
  const { keys, clock } = opts
  const nowSec = (): number => Math.floor(clock.now() / 1000)

  async function signRs256 (claims: JWTPayload): Promise<string> {
    const key = keys.current()
    return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid }).sign(key.privateKey)
  }

  async function signIdToken (claims: JWTPayload, client: RegisteredClient, tamper: IdTokenTamper | undefined): Promise<string> {
    if (tamper === 'alg_none') {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
      return `${header}.${base64url.encode(JSON.stringify(claims))}.`
    }
    if (tamper === 'hs256' || (tamper === undefined && client.id_token_signed_response_alg === 'HS256')) {
      // The tamper variant is the alg-confusion attack: HS256 with the client secret (or any string) as the key.
      const secret = client.client_secret ?? 'not-a-registered-secret'
      return await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(encoder.encode(secret))
    }
    const token = await signRs256(claims)
    if (tamper !== 'bad_signature') return token
    const dot = token.lastIndexOf('.')
    const sig = Buffer.from(token.slice(dot + 1), 'base64url')
    sig[0] = (sig[0] ?? 0) ^ 0xff
    return `${token.slice(0, dot + 1)}${sig.toString('base64url')}`
  }

  return {
    async accessToken ({ user, client, audience, scopes, gty }) {
      const iat = nowSec()
      const issuer = opts.issuer()
      const userinfo = `${issuer}userinfo`
      const aud = audience === undefined ? userinfo : scopes.includes('openid') ? [audience, userinfo] : audience
      const claims: JWTPayload = {
        iss: issuer,
        sub: user.user_id,
        aud,
        iat,
        exp: iat + opts.accessTokenTtlSec,
        scope: scopes.join(' '),
        azp: client.client_id,
        jti: randomUUID()
      }
      if (gty !== undefined) claims.gty = gty
      return await signRs256(claims)
    },

    async idToken ({ user, client, scopes, tamper }) {
      const iat = nowSec()
      const claims: JWTPayload = {
        ...profileClaims(user, scopes),
        iss: opts.issuer(),
        sub: user.user_id,
        aud: client.client_id,
        iat,
        exp: iat + opts.idTokenTtlSec
      }
      switch (tamper) {
        case 'wrong_aud': claims.aud = 'some-other-client'; break
        case 'wrong_iss': claims.iss = 'https://evil.example.com/'; break
        case 'expired': claims.iat = iat - 7200; claims.exp = iat - 3600; break
        case 'missing_sub': delete claims.sub; break
        case 'multi_aud_no_azp': claims.aud = [client.client_id, 'https://another-audience.example.com']; delete claims.azp; break
        default: break
      }
      return await signIdToken(claims, client, tamper)
    },

    async verifyAccessToken (token) {
      const { payload } = await jwtVerify(token, async header => {
        const key = header.kid === undefined ? undefined : keys.get(header.kid)
        if (key === undefined) throw new Error('unknown kid')
        return key.publicKey
      }, { algorithms: ['RS256'], issuer: opts.issuer(), currentDate: new Date(clock.now()) })
      return payload
    }
  }
}
