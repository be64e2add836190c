import { resolve } from 'node:path'
import type { IdpOptions } from './types.js'
import { loadClientsFile } from './clients.js'
import { loadDirectoryFile } from './directory.js'

export interface IdpServerConfig {
  host: string
  port: number
  usersFile: string
  clientsFile: string
  options: IdpOptions
}

function num (env: NodeJS.ProcessEnv, name: string, fallback?: number): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const v = Number(raw)
  if (!Number.isFinite(v) || v < 0) throw new TypeError(`${name} must be a non-negative number, got "${raw}"`)
  return v
}

function flag (env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (['on', 'true', '1', 'yes'].includes(raw)) return true
  if (['off', 'false', '0', 'no'].includes(raw)) return false
  throw new TypeError(`${name} must be on or off, got "${raw}"`)
}

/** The standalone server's configuration; the only place the IdP reads process.env. */
export function readIdpEnv (env: NodeJS.ProcessEnv): IdpServerConfig {
  const usersFile = resolve(env.IDP_USERS_FILE ?? 'idp/users.json')
  const clientsFile = resolve(env.IDP_CLIENTS_FILE ?? 'idp/clients.json')
  const refreshToken: NonNullable<IdpOptions['refreshToken']> = { rotation: flag(env, 'IDP_ROTATION', true), leewaySec: num(env, 'IDP_REUSE_LEEWAY', 0) ?? 0 }
  const absolute = num(env, 'IDP_REFRESH_TOKEN_LIFETIME')
  if (absolute !== undefined) refreshToken.absoluteLifetimeSec = absolute
  const idle = num(env, 'IDP_REFRESH_TOKEN_IDLE')
  if (idle !== undefined) refreshToken.idleLifetimeSec = idle
  const options: IdpOptions = {
    users: loadDirectoryFile(usersFile),
    clients: loadClientsFile(clientsFile),
    accessTokenTtlSec: num(env, 'IDP_ACCESS_TOKEN_TTL', 300) ?? 300,
    refreshToken,
    testApi: flag(env, 'IDP_TEST_API', false),
    logger: flag(env, 'IDP_LOG', false),
    keySource: flag(env, 'IDP_GENERATE_KEYS', true) ? 'generate' : 'pool'
  }
  const idTtl = num(env, 'IDP_ID_TOKEN_TTL')
  if (idTtl !== undefined) options.idTokenTtlSec = idTtl
  const threshold = num(env, 'IDP_BRUTE_FORCE_THRESHOLD')
  if (threshold !== undefined) options.bruteForceThreshold = threshold
  const mfaTtl = num(env, 'IDP_MFA_TOKEN_TTL')
  if (mfaTtl !== undefined) options.mfa = { tokenTtlSec: mfaTtl }
  if (env.IDP_DEFAULT_AUDIENCE !== undefined && env.IDP_DEFAULT_AUDIENCE !== '') options.defaultAudience = env.IDP_DEFAULT_AUDIENCE
  // In a container network the issuer is the name clients use (http://idp:4010/), not the bound address.
  if (env.IDP_ISSUER !== undefined && env.IDP_ISSUER !== '') options.issuer = env.IDP_ISSUER
  return { host: env.IDP_HOST ?? '127.0.0.1', port: num(env, 'IDP_PORT', 4010) ?? 4010, usersFile, clientsFile, options }
}
