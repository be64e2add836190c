import { timingSafeEqual, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AuthenticatorRecord, DirectoryFile, OobChannel, RealmRecord, UserMfa, UserRecord } from './types.js'
import { isRecord, optionalBoolean, optionalString, requiredString } from './validate.js'

/** A user as the IdP knows it at runtime: the record plus its realm. `blocked` is mutable (control API). */
export interface DirectoryUser extends UserRecord {
  realm: string
}

export interface Directory {
  hasRealm (realm: string): boolean
  /** Looks a user up by email (case-insensitive) or username within a realm. */
  find (realm: string, login: string): DirectoryUser | undefined
  byId (userId: string): DirectoryUser | undefined
  checkPassword (user: DirectoryUser, password: string): boolean
  setBlocked (userId: string, blocked: boolean): boolean
  realms (): string[]
  users (): DirectoryUser[]
}

const DEFAULT_UPDATED_AT = '2030-01-01T00:00:00.000Z'

function digest (s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

export function parseDirectory (input: unknown): DirectoryFile {
  if (!isRecord(input) || !Array.isArray(input.realms)) throw new TypeError('users: expected { realms: [...] }')
  const realms: RealmRecord[] = input.realms.map((realm: unknown, i) => {
    const where = `users: realms[${i}]`
    if (!isRecord(realm) || !Array.isArray(realm.users)) throw new TypeError(`${where}: expected { name, users: [...] }`)
    const name = requiredString(realm, 'name', where)
    const users = realm.users.map((u: unknown, j): UserRecord => {
      const w = `${where}.users[${j}]`
      if (!isRecord(u)) throw new TypeError(`${w}: expected an object`)
      const claims = u.claims
      if (claims !== undefined && !isRecord(claims)) throw new TypeError(`${w}: "claims" must be an object`)
      const user: UserRecord = {
        user_id: requiredString(u, 'user_id', w),
        email: requiredString(u, 'email', w),
        email_verified: optionalBoolean(u, 'email_verified', w) ?? false,
        password: requiredString(u, 'password', w),
        name: optionalString(u, 'name', w) ?? requiredString(u, 'email', w)
      }
      const username = optionalString(u, 'username', w)
      if (username !== undefined) user.username = username
      const nickname = optionalString(u, 'nickname', w)
      if (nickname !== undefined) user.nickname = nickname
      const picture = optionalString(u, 'picture', w)
      if (picture !== undefined) user.picture = picture
      const updatedAt = optionalString(u, 'updated_at', w)
      if (updatedAt !== undefined) user.updated_at = updatedAt
      const blocked = optionalBoolean(u, 'blocked', w)
      if (blocked !== undefined) user.blocked = blocked
      if (claims !== undefined) user.claims = claims
      if (u.mfa !== undefined) user.mfa = parseMfa(u.mfa, `${w}.mfa`)
      return user
    })
    return { name, users }
  })
  return { realms }
}

const OOB_CHANNELS: readonly OobChannel[] = ['sms', 'voice', 'email', 'auth0']

function parseMfa (input: unknown, where: string): UserMfa {
  if (!isRecord(input) || !Array.isArray(input.authenticators)) throw new TypeError(`${where}: expected { required, authenticators: [...] }`)
  const authenticators = input.authenticators.map((a: unknown, i): AuthenticatorRecord => {
    const w = `${where}.authenticators[${i}]`
    if (!isRecord(a)) throw new TypeError(`${w}: expected an object`)
    const type = requiredString(a, 'authenticator_type', w)
    if (type !== 'otp' && type !== 'oob' && type !== 'recovery-code') throw new TypeError(`${w}: authenticator_type must be otp, oob or recovery-code`)
    const record: AuthenticatorRecord = { id: requiredString(a, 'id', w), authenticator_type: type }
    const channel = optionalString(a, 'oob_channel', w)
    if (type === 'oob') {
      const found = OOB_CHANNELS.find(c => c === channel)
      if (found === undefined) throw new TypeError(`${w}: oob_channel must be one of ${OOB_CHANNELS.join(', ')}`)
      record.oob_channel = found
    }
    const name = optionalString(a, 'name', w)
    if (name !== undefined) record.name = name
    const active = optionalBoolean(a, 'active', w)
    if (active !== undefined) record.active = active
    if (type === 'otp') record.secret = requiredString(a, 'secret', w)
    if (type === 'recovery-code') record.code = requiredString(a, 'code', w)
    return record
  })
  return { required: optionalBoolean(input, 'required', where) ?? true, authenticators }
}

export function loadDirectoryFile (path: string): DirectoryFile {
  return parseDirectory(JSON.parse(readFileSync(path, 'utf8')))
}

export function createDirectory (file: DirectoryFile): Directory {
  const byRealm = new Map<string, Map<string, DirectoryUser>>()
  const byId = new Map<string, DirectoryUser>()
  for (const realm of file.realms) {
    const index = new Map<string, DirectoryUser>()
    byRealm.set(realm.name, index)
    for (const record of realm.users) {
      // Copy so that blocking a user never mutates the caller's object.
      const user: DirectoryUser = {
        ...record,
        // Authenticators are mutable (recovery codes rotate on use): copy them too.
        ...(record.mfa !== undefined && { mfa: { required: record.mfa.required, authenticators: record.mfa.authenticators.map(a => ({ ...a })) } }),
        nickname: record.nickname ?? record.email.split('@')[0] ?? record.name,
        updated_at: record.updated_at ?? DEFAULT_UPDATED_AT,
        realm: realm.name
      }
      if (byId.has(user.user_id)) throw new TypeError(`users: duplicate user_id ${user.user_id}`)
      byId.set(user.user_id, user)
      index.set(`e:${user.email.toLowerCase()}`, user)
      if (user.username !== undefined) index.set(`u:${user.username}`, user)
    }
  }

  return {
    hasRealm: realm => byRealm.has(realm),
    find (realm, login) {
      const index = byRealm.get(realm)
      if (index === undefined) return undefined
      return index.get(`e:${login.toLowerCase()}`) ?? index.get(`u:${login}`)
    },
    byId: userId => byId.get(userId),
    checkPassword (user, password) {
      // Compare fixed-size digests so the comparison time does not depend on the password length.
      return timingSafeEqual(digest(user.password), digest(password))
    },
    setBlocked (userId, blocked) {
      const user = byId.get(userId)
      if (user === undefined) return false
      user.blocked = blocked
      return true
    },
    realms: () => [...byRealm.keys()],
    users: () => [...byId.values()]
  }
}
