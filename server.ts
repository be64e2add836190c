/**
 * Process entry: configuration from the environment, IdP discovery (OIDC_ISSUER), listen, one startup line, and
 * graceful shutdown on SIGTERM/SIGINT. The only module that touches `process`.
 */
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { buildApp } from './app.js'
import { loadConfig, type AppConfig } from './fastify.config.js'
import { ConfigError } from './src/errors.js'
import { DiscoveryError, resolveEndpoints } from './src/oidc/discovery.js'

function fail (message: string): never {
  process.stderr.write(`bff-token-gateway: ${message}\n`)
  process.exit(1)
}

/** package.json's version: next to server.ts when run from source, one level up from dist/server.js. */
function version (): string {
  for (const candidate of ['./package.json', '../package.json']) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8'))
      if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && parsed.name === 'bff-token-gateway' && 'version' in parsed && typeof parsed.version === 'string') return parsed.version
    } catch {}
  }
  /* c8 ignore next -- package.json ships with the build */
  return 'unknown'
}

let config: AppConfig
try {
  config = await resolveEndpoints(loadConfig(process.env))
} catch (err) {
  if (err instanceof ConfigError || err instanceof DiscoveryError) fail(err.message)
  throw err
}

const app = buildApp({ config })

let closing = false
function shutdown (signal: NodeJS.Signals): void {
  if (closing) {
    app.log.warn({ signal }, 'second signal: exiting now')
    process.exit(1)
  }
  closing = true
  const timeoutMs = config.server.shutdownTimeoutMs
  app.log.info({ signal, timeoutMs }, 'shutting down: no new connections; finishing requests and refreshes in flight')
  const deadline = setTimeout(() => {
    app.log.error({ timeoutMs }, 'shutdown did not finish within SHUTDOWN_TIMEOUT: exiting with requests still open')
    process.exit(1)
  }, timeoutMs)
  deadline.unref()
  app.close().then(() => {
    app.log.info('shut down')
    process.exit(0)
  }, (err: unknown) => {
    app.log.error({ err }, 'shutdown failed')
    process.exit(1)
  })
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)

function where (address: AddressInfo | string | null): string | undefined {
  if (address === null) return undefined
  if (typeof address === 'string') return address
  return address.family === 'IPv6' ? `http://[${address.address}]:${address.port}` : `http://${address.address}:${address.port}`
}

try {
  await app.listen({ host: config.server.host, port: config.server.port })
} catch (err) {
  app.log.error({ err }, 'cannot start')
  process.exit(1)
}

let admin: AddressInfo | undefined
try {
  admin = await app.adminServer.started()
} catch {
  // Logged by the admin plugin: a taken ADMIN_PORT stops the process rather than run without metrics by surprise.
  await app.close()
  process.exit(1)
}

// The one startup line: what runs, against what, where. No secrets (the Redis URL and client secret are left out).
app.log.info({
  event: 'started',
  version: version(),
  provider: config.idp.provider,
  issuer: config.idp.issuer,
  auth0Extensions: config.idp.auth0Extensions,
  store: config.store.kind,
  upstreams: config.proxy.upstreams.map(upstream => `${upstream.prefix}=${upstream.origin}${upstream.rewritePrefix === upstream.prefix ? '' : upstream.rewritePrefix}`),
  listening: where(app.server.address()),
  admin: admin === undefined ? 'off' : where(admin)
}, 'bff-token-gateway started')
