import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ClientRecord, ClientsFile, TokenEndpointAuthMethod } from './types.js'
import { DEFAULT_GRANT_TYPES } from './types.js'
import { isRecord, optionalBoolean, optionalString, requiredString } from './validate.js'

/** A registered client with its public key imported once (never per request). */
export interface RegisteredClient extends ClientRecord {
  grantTypes: ReadonlySet<string>
  publicKey?: KeyObject
}

export interface ClientRegistry {
  get (clientId: string): RegisteredClient | undefined
  all (): RegisteredClient[]
}

const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_post', 'client_secret_basic', 'private_key_jwt', 'none']

function isAuthMethod (v: string): v is TokenEndpointAuthMethod {
  return (AUTH_METHODS as readonly string[]).includes(v)
}

export function parseClients (input: unknown): ClientsFile {
  if (!isRecord(input) || !Array.isArray(input.clients)) throw new TypeError('clients: expected { clients: [...] }')
  return {
    clients: input.clients.map((c: unknown, i): ClientRecord => {
      const where = `clients[${i}]`
      if (!isRecord(c)) throw new TypeError(`${where}: expected an object`)
      const method = requiredString(c, 'token_endpoint_auth_method', where)
      if (!isAuthMethod(method)) throw new TypeError(`${where}: unsupported token_endpoint_auth_method ${method}`)
      const record: ClientRecord = { client_id: requiredString(c, 'client_id', where), token_endpoint_auth_method: method }
      const secret = optionalString(c, 'client_secret', where)
      if (secret !== undefined) record.client_secret = secret
      const pem = optionalString(c, 'public_key_pem', where)
      if (pem !== undefined) record.public_key_pem = pem
      const alg = optionalString(c, 'id_token_signed_response_alg', where)
      if (alg !== undefined) {
        if (alg !== 'RS256' && alg !== 'HS256') throw new TypeError(`${where}: id_token_signed_response_alg must be RS256 or HS256`)
        record.id_token_signed_response_alg = alg
      }
      const trusted = optionalBoolean(c, 'is_token_endpoint_ip_header_trusted', where)
      if (trusted !== undefined) record.is_token_endpoint_ip_header_trusted = trusted
      const grants = c.grant_types
      if (grants !== undefined) {
        if (!Array.isArray(grants) || !grants.every((g): g is string => typeof g === 'string')) {
          throw new TypeError(`${where}: grant_types must be an array of strings`)
        }
        record.grant_types = grants
      }
      return record
    })
  }
}

export function loadClientsFile (path: string): ClientsFile {
  return parseClients(JSON.parse(readFileSync(path, 'utf8')))
}

export function createClientRegistry (file: ClientsFile): ClientRegistry {
  const byId = new Map<string, RegisteredClient>()
  for (const record of file.clients) {
    const where = `clients: ${record.client_id}`
    if (byId.has(record.client_id)) throw new TypeError(`${where}: duplicate client_id`)
    const method = record.token_endpoint_auth_method
    if ((method === 'client_secret_post' || method === 'client_secret_basic') && (record.client_secret ?? '') === '') {
      throw new TypeError(`${where}: ${method} needs a client_secret`)
    }
    if (record.id_token_signed_response_alg === 'HS256' && (record.client_secret ?? '') === '') {
      throw new TypeError(`${where}: HS256 id tokens need a client_secret`)
    }
    const client: RegisteredClient = { ...record, grantTypes: new Set(record.grant_types ?? DEFAULT_GRANT_TYPES) }
    if (method === 'private_key_jwt') {
      if (record.public_key_pem === undefined) throw new TypeError(`${where}: private_key_jwt needs public_key_pem`)
      client.publicKey = createPublicKey(record.public_key_pem)
    }
    byId.set(record.client_id, client)
  }
  return {
    get: clientId => byId.get(clientId),
    all: () => [...byId.values()]
  }
}
