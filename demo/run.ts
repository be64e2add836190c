/** `npm run demo`: the demo stack on fixed ports, and what to try. Ctrl-C stops everything. */
import { ConfigError } from '../src/errors.js'
import { DEMO_USERS, startDemoStack } from './stack.js'

function port (name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 0 || value > 65_535) {
    process.stderr.write(`demo: ${name} must be a port number\n`)
    process.exit(1)
  }
  return value
}

let stack
try {
  stack = await startDemoStack({
    port: port('PORT', 3000),
    idpPort: port('DEMO_IDP_PORT', 4010),
    apiPort: port('DEMO_API_PORT', 8081),
    accessTokenTtlSec: port('DEMO_ACCESS_TOKEN_TTL', 300),
    env: { ADMIN_PORT: '9091', ...process.env },
    demoPage: true
  })
} catch (err) {
  const reason = err instanceof ConfigError ? err.message : err instanceof Error && 'code' in err && err.code === 'EADDRINUSE' ? `${err.message} (set PORT, DEMO_IDP_PORT or DEMO_API_PORT)` : undefined
  if (reason === undefined) throw err
  process.stderr.write(`demo: ${reason}\n`)
  process.exit(1)
}
const { url, idp, api, gateway } = stack
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
