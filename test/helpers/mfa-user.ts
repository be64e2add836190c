/**
 * The local IdP's MFA demo user (idp/users.json) as the MFA tests address it: credentials, subject, TOTP secret and
 * authenticator ids, and the gateway's pending-login cookie name.
 */
import { COOKIE_NAME } from './gateway.js'

export const MFA_USER = { username: 'mfa@example.com', password: 'mfa-password-1' }
export const MFA_ID = 'auth0|mfa000000000000000000004'
/** The TOTP secret of MFA_USER's authenticator app (base32). */
export const SECRET = 'JBSWY3DPEHPK3PXP'
export const TOTP_ID = 'totp|dev_mfa0000000000000001'
export const PUSH_ID = 'push|dev_mfa0000000000000002'
export const SMS_ID = 'sms|dev_mfa0000000000000003'
export const RECOVERY_ID = 'recovery-code|dev_mfa0000000000000004'
/** The pending-login cookie: the session cookie's name with `-mfa`. */
export const PENDING = `${COOKIE_NAME}-mfa`
