/** `npm run demo`: the demo stack on fixed ports, and what to try. Ctrl-C stops everything. */
import { ConfigError } from '../src/errors.js'
import type { IdpMessage } from '../idp/types.js'
import { DEMO_MFA_USER, DEMO_USERS, startDemoStack } from './stack.js'

function port (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    process.stderr.write(`demo: ${name} must be a port number\n`)
    process.exit(1)
  }
  return value
}

/** The IdP "sends" SMS binding codes and push prompts here: print them, with the curl lines that answer a push. */
let idpUrl = ''
function printIdpMessage (message: IdpMessage): void {
  const time = new Date().toLocaleTimeString()
  if (message.kind !== 'push') {
    process.stdout.write(`[${time}] idp: ${message.text}   (type it on the demo page)\n`)
    return
  }
  const push = `${idpUrl}/__idp/mfa/push/${encodeURIComponent(message.userId)}`
  process.stdout.write(`[${time}] idp: ${message.text.split(':', 1)[0] ?? 'push'} (${message.userId}) — approve or reject it:\n` +
    `    curl -X POST '${push}/approve'\n` +
    `    curl -X POST '${push}/reject'\n`)
}

let stack
try {
  stack = await startDemoStack({
    port: port('PORT', 3000),
    idpPort: port('DEMO_IDP_PORT', 4010),
    apiPort: port('DEMO_API_PORT', 8081),
    accessTokenTtlSec: port('DEMO_ACCESS_TOKEN_TTL', 300),
    env: { ADMIN_PORT: '9091', ...process.env },
    demoPage: true,
    idp: { onMessage: printIdpMessage }
  })
} catch (err) {
  const reason = err instanceof ConfigError ? err.message : err instanceof Error && 'code' in err && err.code === 'EADDRINUSE' ? `${err.message} (set PORT, DEMO_IDP_PORT or DEMO_API_PORT)` : undefined
  if (reason === undefined) throw err
  process.stderr.write(`demo: ${reason}\n`)
  process.exit(1)
}
const { url, idp, api, gateway } = stack
idpUrl = idp.url
const mfaUser = encodeURIComponent(DEMO_MFA_USER.userId)
const admin = await gateway.adminServer.started().catch(() => undefined)

process.stdout.write(`
bff-token-gateway demo
  demo page  ${url}/   (open it in a browser: sign in, call the API, watch the token refresh)
  gateway    ${url}
  local IdP  ${idp.url}   (Auth0-compatible; test API under ${idp.url}/__idp/)
  echo API   ${api.url}   (behind ${url}/api)
${admin === undefined ? '' : `  metrics    http://${admin.address}:${admin.port}/metrics   (admin port, Prometheus text)\n`}
Demo users (realm Username-Password-Authentication unless noted):
${DEMO_USERS.map(user => `  ${user.username.padEnd(18)} / ${user.password}${user.note === '' ? '' : `   (${user.note})`}`).join('\n')}

Try it (the cookie jar keeps the httpOnly session cookie, as a browser would):
  curl -i -c jar -H 'content-type: application/json' -H 'x-csrf: 1' \\
       -d '{"username":"alice@example.com","password":"alice-password-1"}' ${url}/session
  curl -b jar ${url}/session
  curl -b jar ${url}/api/echo
  curl -i -b jar -c jar -X DELETE -H 'x-csrf: 1' ${url}/session

Second factor (mfa@example.com / mfa-password-1, on the demo page; README "MFA" has the curl version):
  TOTP code      npm run --silent totp -- ${DEMO_MFA_USER.totpSecret}   (prints the code an authenticator app would show)
  push           approve or reject it with the curl lines printed below when the IdP "sends" it
  SMS code       printed below when the IdP "sends" it; also curl -s ${idp.url}/__idp/mfa/binding-code/${mfaUser}
  recovery code  ${DEMO_MFA_USER.recoveryCode} at first; each use shows a new one (curl -s ${idp.url}/__idp/mfa/recovery-code/${mfaUser})

Ctrl-C stops the demo.

`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1)
    stopping = true
    stack.close().then(() => process.exit(0), () => process.exit(1))
  })
}
