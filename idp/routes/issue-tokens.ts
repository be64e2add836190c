import type { RegisteredClient } from '../clients.js'
import type { IdpContext } from '../context.js'
import type { DirectoryUser } from '../directory.js'
import { invalidRequest } from '../errors.js'
import type { IdTokenTamper } from '../tokens.js'
import { GRANT_REFRESH } from '../types.js'

export interface TokenResponse {
  access_token: string
  id_token?: string
  refresh_token?: string
  scope: string
  expires_in: number
  token_type: 'Bearer'
  /** mfa-recovery-code grant: the user's new recovery code, shown once. */
  recovery_code?: string
}

/** The token response of a completed login (password, or password plus a second factor). */
export async function issueTokens (ctx: IdpContext, input: {
  user: DirectoryUser, client: RegisteredClient, scopes: readonly string[], audience: string | undefined, gty: string, tamper?: IdTokenTamper | undefined
}): Promise<TokenResponse> {
  const { user, client, scopes, audience } = input
  const response: TokenResponse = {
    access_token: await ctx.minter.accessToken({ user, client, audience, scopes, gty: input.gty }),
    scope: scopes.join(' '),
    expires_in: ctx.settings.accessTokenTtlSec,
    token_type: 'Bearer'
  }
  if (scopes.includes('openid')) response.id_token = await ctx.minter.idToken({ user, client, scopes, tamper: input.tamper })
  if (scopes.includes('offline_access') && client.grantTypes.has(GRANT_REFRESH)) {
    response.refresh_token = ctx.refresh.issue({ clientId: client.client_id, userId: user.user_id, scopes, audience })
  }
  return response
}

export function required (form: Record<string, string>, name: string): string {
  const value = form[name]
  if (value === undefined || value === '') throw invalidRequest(`Missing required parameter: ${name}`)
  return value
}
