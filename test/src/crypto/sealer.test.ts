import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createSealer, decodeEncryptionKey, keyId } from '../../../src/crypto/sealer.js'

const k1 = randomBytes(32)
const k2 = randomBytes(32)
const SECRET = 'eyJhbGciOiJSUzI1NiJ9.access-token-in-clear.sig'

t.test('seal then open gives the plaintext back; the sealed form holds no plaintext', async t => {
  const sealer = createSealer([k1])
  const sealed = sealer.seal(SECRET)
  t.equal(sealer.open(sealed), SECRET)
  t.notOk(sealed.includes('access-token-in-clear'))
  t.notOk(Buffer.from(sealed.split('.')[1] ?? '', 'base64url').toString('latin1').includes('access-token-in-clear'))
  t.equal(sealed.split('.')[0], keyId(k1), 'the key id is the prefix')
})

t.test('every seal uses a fresh IV', async t => {
  const sealer = createSealer([k1])
  t.not(sealer.seal(SECRET), sealer.seal(SECRET))
})

t.test('altered values, other contexts and garbage do not open', async t => {
  const sealer = createSealer([k1])
  const sealed = sealer.seal(SECRET, 'key-a')
  t.equal(sealer.open(sealed, 'key-a'), SECRET)
  t.equal(sealer.open(sealed, 'key-b'), undefined, 'bound to its context')
  t.equal(sealer.open(sealed), undefined)
  const [id, body] = sealed.split('.') as [string, string]
  const bytes = Buffer.from(body, 'base64url')
  bytes[20] = (bytes[20] ?? 0) ^ 1
  t.equal(sealer.open(`${id}.${bytes.toString('base64url')}`, 'key-a'), undefined, 'a flipped bit')
  t.equal(sealer.open('no-dot', 'key-a'), undefined)
  t.equal(sealer.open(`${id}.AAAA`, 'key-a'), undefined, 'too short')
  t.equal(sealer.open(`zzzzzzzz.${body}`, 'key-a'), undefined, 'unknown key id')
})

t.test('rotation: the first key seals, every key opens; a removed key no longer opens', async t => {
  const old = createSealer([k1])
  const rotated = createSealer([k2, k1])
  const sealedOld = old.seal(SECRET)
  t.equal(rotated.open(sealedOld), SECRET, 'old values still open')
  const sealedNew = rotated.seal(SECRET)
  t.equal(sealedNew.split('.')[0], keyId(k2), 'new values use the first key')
  t.equal(old.open(sealedNew), undefined, 'a replica without the new key cannot open them')
  t.equal(createSealer([k2]).open(sealedOld), undefined, 'the old key removed: old values are unreadable')
  t.same(rotated.keyIds, [keyId(k2), keyId(k1)])
})

t.test('keys are checked', async t => {
  t.throws(() => createSealer([]), TypeError)
  t.throws(() => createSealer([randomBytes(16)]), TypeError)
  t.same(createSealer([k1, k1]).keyIds, [keyId(k1)], 'duplicates collapse')
})

t.test('decodeEncryptionKey accepts base64 and base64url of 32 bytes', async t => {
  const key = randomBytes(32)
  t.same(decodeEncryptionKey(key.toString('base64')), key)
  t.same(decodeEncryptionKey(key.toString('base64url')), key)
  t.match(decodeEncryptionKey(randomBytes(16).toString('base64')), /32 bytes, got 16/)
  t.match(decodeEncryptionKey('not base64!'), /base64/)
})
