import type { AuthenticatedClient } from '../client-auth.js'
import type { CallState, IdpContext } from '../context.js'
import type { DirectoryUser } from '../directory.js'
import { OAuthError } from '../errors.js'
import { newRecoveryCode, sameCode, type MfaTransaction } from '../mfa.js'
import { matchTotp } from '../totp.js'
import { GRANT_MFA_OOB, GRANT_MFA_OTP } from '../types.js'
import { issueTokens, required, type TokenResponse } from './issue-tokens.js'

const invalidGrant = (description: string): OAuthError => new OAuthError(403, 'invalid_grant', description)

/**
 * The MFA verify grants (reference §8.4): mfa-otp, mfa-oob (push polling or a binding code) and mfa-recovery-code.
 * Each needs a live mfa_token of the same client. Wrong codes count as failed attempts for brute-force protection;
 * success spends the mfa_token and answers like the password grant (plus a new recovery_code for that grant).
 */
export async function mfaGrant (ctx: IdpContext, auth: AuthenticatedClient, state: CallState, grantType: string): Promise<TokenResponse> {
  const { form } = state
  const tx = ctx.mfa.check(required(form, 'mfa_token'), auth.client.client_id)
  const user = ctx.directory.byId(tx.userId)
  if (user === undefined) throw invalidGrant('Malformed mfa_token')
  ctx.bruteForce.check(state.effectiveIp, user.user_id)
  if (user.blocked === true) throw new OAuthError(401, 'unauthorized', 'user is blocked')

  let recoveryCode: string | undefined
  if (grantType === GRANT_MFA_OTP) {
    verifyOtp(ctx, state, user, required(form, 'otp'))
  } else if (grantType === GRANT_MFA_OOB) {
    verifyOob(ctx, state, tx, user, required(form, 'oob_code'), form.binding_code)
  } else {
    recoveryCode = verifyRecoveryCode(ctx, state, user, required(form, 'recovery_code'))
  }

  ctx.bruteForce.succeed(state.effectiveIp, user.user_id)
  ctx.mfa.consume(tx.token)
  const response = await issueTokens(ctx, { user, client: auth.client, scopes: tx.scopes, audience: tx.audience, gty: 'mfa', tamper: state.tamper })
  if (recoveryCode !== undefined) response.recovery_code = recoveryCode
  return response
}

function failed (ctx: IdpContext, state: CallState, user: DirectoryUser, description: string): OAuthError {
  ctx.bruteForce.fail(state.effectiveIp, user.user_id)
  return invalidGrant(description)
}

function verifyOtp (ctx: IdpContext, state: CallState, user: DirectoryUser, otp: string): void {
  const now = ctx.clock.now()
  for (const authenticator of user.mfa?.authenticators ?? []) {
    if (authenticator.authenticator_type !== 'otp' || authenticator.active === false || authenticator.secret === undefined) continue
    const step = matchTotp(authenticator.secret, otp, now)
    // A code is single-use: the same step again is as wrong as a wrong code.
    if (step !== undefined && ctx.mfa.useTotpStep(user.user_id, step)) return
  }
  throw failed(ctx, state, user, 'Invalid otp_code.')
}

function verifyOob (ctx: IdpContext, state: CallState, tx: MfaTransaction, user: DirectoryUser, oobCode: string, bindingCode: string | undefined): void {
  const oob = ctx.mfa.oob(oobCode)
  if (oob === undefined || oob.mfaToken !== tx.token) throw invalidGrant('Invalid oob_code.')
  if (oob.bindingCode !== undefined) {
    // Binding-code channels answer at once: right or wrong.
    if (bindingCode === undefined || bindingCode === '' || !sameCode(bindingCode, oob.bindingCode)) throw failed(ctx, state, user, 'Invalid binding_code.')
    return
  }
  if (oob.state === 'approved') return
  // The real recording answers a rejection with 400 access_denied (the docs say invalid_grant); final either way.
  if (oob.state === 'rejected') throw new OAuthError(400, 'access_denied', 'MFA Authorization rejected.')
  const now = ctx.clock.now()
  const tooSoon = oob.lastPollMs !== undefined && now - oob.lastPollMs < ctx.settings.mfaPollIntervalSec * 1000
  oob.lastPollMs = now
  if (tooSoon) throw new OAuthError(400, 'slow_down', 'You are polling faster than allowed. Try again in 10 seconds.')
  throw new OAuthError(400, 'authorization_pending', 'Authorization pending: please repeat the request in a few seconds.')
}

function verifyRecoveryCode (ctx: IdpContext, state: CallState, user: DirectoryUser, code: string): string {
  const authenticator = user.mfa?.authenticators.find(a => a.authenticator_type === 'recovery-code' && a.active !== false)
  if (authenticator?.code === undefined || !sameCode(code, authenticator.code)) throw failed(ctx, state, user, 'Invalid recovery code.')
  // One-time: the used code is replaced, and the new one is returned to be shown to the user.
  authenticator.code = newRecoveryCode()
  return authenticator.code
}
