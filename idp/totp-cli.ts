import { totp, TOTP_STEP_SEC } from './totp.js'

/* `npm run totp -- <base32 secret>`: prints the current TOTP code, like an authenticator app would. */
const secret = process.argv[2]
if (secret === undefined || secret === '') {
  process.stderr.write('usage: npm run totp -- <base32 secret>   (the demo MFA user\'s secret is in idp/users.json)\n')
  process.exit(2)
}
const now = Date.now()
const left = TOTP_STEP_SEC - Math.floor(now / 1000) % TOTP_STEP_SEC
process.stdout.write(`${totp(secret, now)}   (valid ${left} s more)\n`)
