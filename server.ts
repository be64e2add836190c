/** Process entry: configuration from the environment, then listen. The only module that touches `process`. */
import { buildApp } from './app.js'
import { loadConfig, type AppConfig } from './fastify.config.js'
import { ConfigError } from './src/errors.js'

let config: AppConfig
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  process.stderr.write(`bff-token-gateway: ${err.message}\n`)
  process.exit(1)
}

const app = buildApp({ config })
let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) process.exit(1)
    closing = true
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), (err: unknown) => {
      app.log.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  })
}

try {
  await app.listen({ host: config.server.host, port: config.server.port })
} catch (err) {
  app.log.error({ err }, 'cannot start')
  process.exit(1)
}
