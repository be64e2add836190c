/** JSON schemas shared by the route modules. Response schemas are also a guard: a token cannot be serialised. */
import { ERROR_CATALOG } from '../src/errors.js'

export const errorReply = {
  $id: 'ErrorReply',
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  additionalProperties: false,
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', enum: Object.keys(ERROR_CATALOG) },
    error: { type: 'string' },
    message: { type: 'string' }
  }
} as const

export const errorResponses = {
  '4xx': { $ref: 'ErrorReply#' },
  '5xx': { $ref: 'ErrorReply#' }
} as const

export const sessionViewSchema = {
  type: 'object',
  required: ['user', 'scope', 'expires_at', 'access_token_expires_at', 'has_refresh_token'],
  additionalProperties: false,
  properties: {
    user: { type: 'object', additionalProperties: true },
    scope: { type: 'string' },
    expires_at: { type: 'string', format: 'date-time' },
    access_token_expires_at: { type: 'string', format: 'date-time' },
    has_refresh_token: { type: 'boolean' }
  }
} as const

export const credentialsSchema = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    realm: { type: 'string', minLength: 1, maxLength: 128 },
    session_transport: { type: 'string', enum: ['cookie', 'header'] }
  }
} as const

const authenticatorSchema = {
  type: 'object',
  required: ['id', 'type'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: ['otp', 'oob', 'recovery-code'] },
    channel: { type: 'string' },
    name: { type: 'string' }
  }
} as const

/** 401 from POST /session: the usual error shape, plus the authenticators when the code is mfa_required. */
export const mfaRequiredReply = {
  type: 'object',
  required: errorReply.required,
  additionalProperties: false,
  properties: { ...errorReply.properties, code: { type: 'string' }, authenticators: { type: 'array', items: authenticatorSchema } }
} as const

/** 200 of a completed login (POST /session, POST /session/mfa): the session view, plus the new recovery code (recovery-code logins) and the handle (header sessions). */
export const loginReply = {
  ...sessionViewSchema,
  properties: {
    ...sessionViewSchema.properties,
    recovery_code: { type: 'string' },
    session_handle: { type: 'string' }
  }
} as const

/** A session in GET /session/all and the admin API (src/session/session-admin.ts SessionSummary). */
export const sessionSummarySchema = {
  type: 'object',
  required: ['handle', 'created_at', 'last_seen_at', 'current'],
  additionalProperties: false,
  properties: {
    handle: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    last_seen_at: { type: 'string', format: 'date-time' },
    user_agent: { type: 'string' },
    ip: { type: 'string' },
    current: { type: 'boolean' }
  }
} as const

/** The answer of the calls that end sessions: how many were ended. */
export const endedSchema = {
  type: 'object',
  required: ['ended'],
  additionalProperties: false,
  properties: { ended: { type: 'integer', minimum: 0 } }
} as const

/** A session handle in a path (`:handle`). */
export const handleParam = { type: 'string', minLength: 1, maxLength: 64 } as const
