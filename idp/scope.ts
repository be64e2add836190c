/** Scope strings: space-separated, order-preserving, de-duplicated. */

export function parseScope (scope: string | undefined): string[] {
  if (scope === undefined) return []
  return [...new Set(scope.split(' ').filter(s => s !== ''))]
}

export function hasScope (scopes: readonly string[], name: string): boolean {
  return scopes.includes(name)
}

/** Auth0 grants the standard OIDC scopes when none are requested (a recording returned `openid profile email address phone`). */
export const DEFAULT_GRANTED_SCOPE: readonly string[] = ['openid', 'profile', 'email']
