import { startIdp } from './app.js'
import { readIdpEnv } from './env.js'

/* Standalone local Auth0-compatible IdP: `npm run idp`. Configuration: idp/README.md. */
const config = readIdpEnv(process.env)
// Out-of-band MFA messages (SMS/email binding codes, push prompts) are "delivered" here.
const idp = await startIdp({ ...config.options, host: config.host, port: config.port, onMessage: message => { process.stdout.write(`${message.text}\n`) } })
const users = (config.options.users?.realms ?? [])
  .flatMap(realm => realm.users.map(u => `${u.email} / ${u.password} (${realm.name}${u.blocked === true ? ', blocked' : ''}${u.mfa?.required === true ? ', MFA' : ''})`))
process.stdout.write(`idp listening on ${idp.url} (issuer ${idp.issuer}, test API ${config.options.testApi === true ? 'on' : 'off'}); users: ${users.join('; ')}\n`)

let closing = false
async function shutdown (signal: string): Promise<void> {
  if (closing) return
  closing = true
  process.stdout.write(`idp: ${signal}, closing\n`)
  await idp.close()
  process.exit(0)
}
process.once('SIGINT', () => { void shutdown('SIGINT') })
process.once('SIGTERM', () => { void shutdown('SIGTERM') })
