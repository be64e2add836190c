import { createHash } from 'node:crypto'
import t from 'tap'
import { createIdentifierHasher, deriveKey, normaliseUsername } from '../../../src/crypto/identifier-hash.js'

const SECRET = 'identifier-hash-secret-0123456789abcdefghij'
const OTHER = 'identifier-hash-secret-zyxwvutsrqponmlkjihg'

t.test('log handles: short, stable, case-, space- and NFKC-insensitive', async t => {
  const hasher = createIdentifierHasher(SECRET)
  const hash = hasher.forLog('Alice@Example.com ')
  t.match(hash, /^[A-Za-z0-9_-]{12}$/)
  t.equal(hash, hasher.forLog('alice@example.com'))
  t.equal(hash, createIdentifierHasher(SECRET).forLog('ALICE@EXAMPLE.COM'), 'another instance (replica) with the same key agrees')
  t.equal(hasher.forLog('\uFF41lice@example.com'), hash, 'a fullwidth a is an a (NFKC)')
  t.not(hash, hasher.forLog('bob@example.com'))
})

t.test('keyed: not the unsalted SHA-256 an attacker could compute from a guessed e-mail, and it changes with the key', async t => {
  const hasher = createIdentifierHasher(SECRET)
  const guess = 'alice@example.com'
  const unsalted = createHash('sha256').update(guess).digest('base64url')
  t.not(hasher.forLog(guess), unsalted.slice(0, 12))
  t.not(hasher.forThrottle(guess, undefined), createHash('sha256').update(`\u0000${guess}`).digest('base64url').slice(0, 32))
  t.not(createIdentifierHasher(OTHER).forLog(guess), hasher.forLog(guess), 'another key, another hash')
  t.not(createIdentifierHasher(OTHER).forThrottle(guess, undefined), hasher.forThrottle(guess, undefined))
})

t.test('throttle keys: per realm, and unlinkable to the log handle', async t => {
  const hasher = createIdentifierHasher(SECRET)
  const key = hasher.forThrottle(' Alice@Example.com', 'corp')
  t.match(key, /^[A-Za-z0-9_-]{32}$/)
  t.equal(key, hasher.forThrottle('alice@example.com', 'corp'))
  t.not(key, hasher.forThrottle('alice@example.com', 'other'))
  t.not(key, hasher.forThrottle('alice@example.com', undefined))
  t.notOk(key.startsWith(hasher.forLog('alice@example.com')), 'a log line does not name the Redis key')
})

t.test('derived keys: one per label, never the secret itself', async t => {
  const a = deriveKey(SECRET, 'identifier-hash v1')
  t.equal(a.length, 32)
  t.not(a.toString('hex'), deriveKey(SECRET, 'device-cookie v1').toString('hex'))
  t.not(a.toString('hex'), deriveKey(OTHER, 'identifier-hash v1').toString('hex'))
  t.notOk(a.toString('latin1').includes(SECRET.slice(0, 8)))
  t.equal(normaliseUsername('  ÅSA@Example.COM '), 'åsa@example.com')
})
