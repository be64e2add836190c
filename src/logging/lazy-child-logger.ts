/**
 * Request loggers that cost nothing until they log. Fastify gives every request a child logger carrying its request
 * id; a pino child is built eagerly (bindings serialised, a new object chain) although most requests on the proxy
 * path log nothing below the production level. Measured on the proxy path at LOG_LEVEL=warn, building those children
 * was about 5 µs of the gateway's CPU per request. This child becomes a real pino child, with exactly the same
 * bindings and options, the first time something is logged at a level that is enabled; calls below the level return
 * at once.
 */
import type { BaseLogger, Bindings, ChildLoggerOptions } from 'pino'

/**
 * A pino logger that makes children: the shape of Fastify's FastifyBaseLogger, written against pino alone so this
 * module needs no framework (Fastify's request loggers and app logger are ChildLoggers, and so is a LazyChildLogger).
 */
export interface ChildLogger extends Pick<BaseLogger, 'level' | 'info' | 'error' | 'debug' | 'fatal' | 'warn' | 'trace' | 'silent'> {
  child (bindings: Bindings, options?: ChildLoggerOptions): ChildLogger
}

type Method = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
/** pino's own level numbers; `silent` enables nothing. */
const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity }
// unknown[]: pino's LogFn is overloaded (object or message first); the arguments pass through untouched.
type AnyLogFn = (this: ChildLogger, ...args: unknown[]) => void

export class LazyChildLogger implements ChildLogger {
  private child_: ChildLogger | undefined
  /** The lowest level value written, read once: a request's logger lives as long as the request. */
  private minimum: number

  constructor (
    private readonly parent: ChildLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions
  ) {
    this.minimum = options.level === undefined ? levelValueOf(parent) : LEVEL_VALUES[options.level] ?? 0
  }

  /** The pino child, built on first use. */
  private real (): ChildLogger {
    this.child_ ??= this.parent.child(this.bindings, this.options)
    return this.child_
  }

  get level (): string {
    return this.child_?.level ?? this.options.level ?? this.parent.level
  }

  set level (level: string) {
    const real = this.real()
    real.level = level
    this.minimum = levelValueOf(real)
  }

  /** Whether a call at this level would write anything. A level name this module does not know is left to pino. */
  isLevelEnabled (level: string): boolean {
    const wanted = LEVEL_VALUES[level]
    return wanted === undefined || wanted >= this.minimum
  }

  private log (method: Method, args: unknown[]): void {
    if (!this.isLevelEnabled(method)) return
    const real = this.real()
    ;(real[method] as AnyLogFn).apply(real, args)
  }

  fatal (...args: unknown[]): void { this.log('fatal', args) }
  error (...args: unknown[]): void { this.log('error', args) }
  warn (...args: unknown[]): void { this.log('warn', args) }
  info (...args: unknown[]): void { this.log('info', args) }
  debug (...args: unknown[]): void { this.log('debug', args) }
  trace (...args: unknown[]): void { this.log('trace', args) }
  silent (): void {}

  child (bindings: Bindings, options?: ChildLoggerOptions): ChildLogger {
    return this.real().child(bindings, options)
  }
}

/** pino's own number for a logger's level (no string lookups); a logger without one is judged by its level name. */
function levelValueOf (logger: ChildLogger): number {
  const value = (logger as { levelVal?: unknown }).levelVal
  return typeof value === 'number' ? value : LEVEL_VALUES[logger.level] ?? 0
}

/** For Fastify's `childLoggerFactory` (server-options.ts): request loggers are LazyChildLoggers. */
export function lazyChildLoggerFactory (logger: ChildLogger, bindings: Bindings, options: ChildLoggerOptions): ChildLogger {
  return new LazyChildLogger(logger, bindings, options)
}
