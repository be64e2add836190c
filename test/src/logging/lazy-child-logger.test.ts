/**
 * Request loggers built lazily: nothing is built for calls below the level, and what is logged is exactly what an
 * eager pino child would write (same bindings, options, levels).
 */
import pino from 'pino'
import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { captureLogs } from '../../helpers/gateway.js'
import { LazyChildLogger, lazyChildLoggerFactory } from '../../../src/logging/lazy-child-logger.js'

/** A real pino logger writing to a capture, with a count of the children built from it. */
function parentAt (level: string): { logger: FastifyBaseLogger, logs: ReturnType<typeof captureLogs>, children: () => number } {
  const logs = captureLogs()
  const root = pino({ level, base: null, timestamp: false }, logs.stream)
  let built = 0
  // Counts the children built from it; the children themselves are ordinary pino children of the root.
  const logger = Object.create(root) as typeof root
  logger.child = ((bindings, options) => { built++; return root.child(bindings, options) }) as typeof root.child
  return { logger, logs, children: () => built }
}

t.test('calls below the level build nothing and write nothing', async t => {
  const { logger, logs, children } = parentAt('warn')
  const log = lazyChildLoggerFactory(logger, { reqId: 'req-1' }, {})
  log.info({ event: 'x' }, 'not written')
  log.debug('not written')
  log.trace('not written')
  log.silent('never written')
  t.equal(children(), 0, 'no pino child was built')
  t.same(logs.lines(), [])
  t.equal(log.level, 'warn', 'the level is the parent\'s')
})

t.test('the first enabled call builds the child once; lines carry the bindings, as an eager child writes them', async t => {
  const { logger, logs, children } = parentAt('info')
  const lazy = new LazyChildLogger(logger, { reqId: 'req-2' }, {})
  lazy.info({ event: 'login', outcome: 'ok' }, 'login succeeded')
  lazy.warn('plain %s', 'message')
  lazy.error(new Error('boom'), 'failed')
  t.equal(children(), 1, 'one child for the whole request')
  const eager = parentAt('info')
  const child = eager.logger.child({ reqId: 'req-2' }, {})
  child.info({ event: 'login', outcome: 'ok' }, 'login succeeded')
  child.warn('plain %s', 'message')
  child.error(new Error('boom'), 'failed')
  const strip = (line: Record<string, unknown>): Record<string, unknown> => {
    const { err, ...rest } = line
    return err === undefined ? rest : { ...rest, err: { message: (err as { message: string }).message } }
  }
  t.same(logs.lines().map(strip), eager.logs.lines().map(strip))
  t.same(logs.lines().map(line => [line.reqId, line.level, line.msg]), [['req-2', 30, 'login succeeded'], ['req-2', 40, 'plain message'], ['req-2', 50, 'failed']])
})

t.test('a route\'s own level (Fastify passes it as an option) decides, and is passed to the child', async t => {
  const { logger, logs } = parentAt('info')
  const log = lazyChildLoggerFactory(logger, { reqId: 'req-3' }, { level: 'warn' })
  t.equal(log.level, 'warn')
  log.info('a probe at info is not written')
  log.warn('written')
  t.same(logs.lines().map(line => line.msg), ['written'])
  log.info('still not written: the built child has the route level too')
  t.same(logs.lines().map(line => line.msg), ['written'])
})

t.test('level can be read and set; isLevelEnabled follows it; child() keeps the request bindings', async t => {
  const { logger, logs } = parentAt('warn')
  const lazy = new LazyChildLogger(logger, { reqId: 'req-4' }, {})
  t.notOk(lazy.isLevelEnabled('info'))
  t.ok(lazy.isLevelEnabled('error'))
  t.ok(lazy.isLevelEnabled('custom-level'), 'an unknown level is left to pino')
  lazy.level = 'debug'
  t.equal(lazy.level, 'debug')
  t.ok(lazy.isLevelEnabled('debug'))
  lazy.debug('now written')
  lazy.child({ step: 'inner' }).warn('from a grandchild')
  lazy.fatal('fatal too')
  t.same(logs.lines().map(line => [line.reqId, line.step, line.msg]), [['req-4', undefined, 'now written'], ['req-4', 'inner', 'from a grandchild'], ['req-4', undefined, 'fatal too']])
  t.equal(logger.level, 'warn', 'the parent keeps its level')
})

t.test('silent: nothing is enabled', async t => {
  const { logger, logs, children } = parentAt('silent')
  const log = lazyChildLoggerFactory(logger, { reqId: 'req-5' }, {})
  log.fatal('not written')
  t.equal(children(), 0)
  t.same(logs.lines(), [])
})

t.test('a parent that is not pino (no levelVal) is judged by its level name', async t => {
  const written: string[] = []
  const parent: FastifyBaseLogger = {
    level: 'info',
    fatal: (msg: unknown) => { written.push(`fatal ${String(msg)}`) },
    error: (msg: unknown) => { written.push(`error ${String(msg)}`) },
    warn: (msg: unknown) => { written.push(`warn ${String(msg)}`) },
    info: (msg: unknown) => { written.push(`info ${String(msg)}`) },
    debug: (msg: unknown) => { written.push(`debug ${String(msg)}`) },
    trace: (msg: unknown) => { written.push(`trace ${String(msg)}`) },
    silent: () => {},
    child: () => parent
  }
  const log = lazyChildLoggerFactory(parent, { reqId: 'req-6' }, {})
  log.debug('below the level')
  log.info('at the level')
  t.same(written, ['info at the level'])
  const custom = lazyChildLoggerFactory(parent, { reqId: 'req-7' }, { level: 'verbose' })
  custom.trace('an unknown route level leaves the decision to the logger')
  t.same(written, ['info at the level', 'trace an unknown route level leaves the decision to the logger'])
})
