/**
 * The limit: a bare Fastify app with @fastify/http-proxy on /api and nothing else (no logger, no hooks).
 * BENCH_UPSTREAM is the echo upstream's origin.
 */
import proxy from '@fastify/http-proxy'
import Fastify from 'fastify'
import { announceReady, serveParent } from '../lib/ipc.js'

const upstream = process.env.BENCH_UPSTREAM
if (upstream === undefined) throw new Error('bare-proxy: BENCH_UPSTREAM is required')

const app = Fastify({ logger: false })
await app.register(proxy, { upstream, prefix: '/api', rewritePrefix: '/api' })
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
if (address === null || typeof address === 'string') throw new Error('bare-proxy: unexpected address')
announceReady(address.port)
serveParent(async () => { await app.close() })
