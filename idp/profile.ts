import type { DirectoryUser } from './directory.js'

/** OIDC profile claims for the granted scopes, then the user's custom claims, then `sub`. */
export function profileClaims (user: DirectoryUser, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {}
  if (scopes.includes('profile')) {
    claims.name = user.name
    claims.nickname = user.nickname
    if (user.picture !== undefined) claims.picture = user.picture
    claims.updated_at = user.updated_at
  }
  if (scopes.includes('email')) {
    claims.email = user.email
    claims.email_verified = user.email_verified
  }
  if (user.claims !== undefined) Object.assign(claims, user.claims)
  claims.sub = user.user_id
  return claims
}
