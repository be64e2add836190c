import { readFileSync } from 'node:fs'
import t from 'tap'
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import { authenticateClient, importAssertionKey } from '../../../src/token/client-auth.js'
import { createManualClock } from '../../helpers/manual-clock.js'

const clock = createManualClock()
const PEM = readFileSync(new URL('../../../idp/demo-keys/private-key-jwt.pem', import.meta.url), 'utf8')
const clients = JSON.parse(readFileSync(new URL('../../../idp/clients.json', import.meta.url), 'utf8')) as { clients: Array<{ client_id: string, public_key_pem?: string }> }
const PUBLIC_PEM = clients.clients.find(c => c.client_id === 'demo-pkjwt')?.public_key_pem ?? ''

t.test('client_secret_post puts id and secret in the body, no header', async t => {
  const out = await authenticateClient({ method: 'client_secret_post', clientId: 'cid', clientSecret: 's3cret' }, clock)
  t.same(out, { params: { client_id: 'cid', client_secret: 's3cret' }, headers: {} })
})

t.test('client_secret_basic form-encodes id and secret before base64 (RFC 6749 §2.3.1)', async t => {
  const secret = 'basic secret:with/special+chars&=%-0123456789'
  const out = await authenticateClient({ method: 'client_secret_basic', clientId: 'demo:basic', clientSecret: secret }, clock)
  t.same(out.params, { client_id: 'demo:basic' })
  const header = out.headers.authorization ?? ''
  t.match(header, /^Basic [A-Za-z0-9+/]+=*$/)
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8')
  t.equal(decoded, 'demo%3Abasic:basic+secret%3Awith%2Fspecial%2Bchars%26%3D%25-0123456789')
  const [id = '', enc = ''] = decoded.split(':')
  const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '))
  t.equal(formDecode(id), 'demo:basic')
  t.equal(formDecode(enc), secret)
  t.notOk('client_secret' in out.params)
})

t.test('private_key_jwt signs a fresh one-minute assertion for the issuer', async t => {
  const key = await importAssertionKey(PEM, 'RS256')
  const auth = { method: 'private_key_jwt', clientId: 'demo-pkjwt', key, alg: 'RS256', audience: 'https://tenant.example.com/' } as const
  const first = await authenticateClient(auth, clock)
  const second = await authenticateClient(auth, clock)
  t.same(first.headers, {})
  t.equal(first.params.client_id, 'demo-pkjwt')
  t.equal(first.params.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
  const assertion = first.params.client_assertion ?? ''
  t.same(decodeProtectedHeader(assertion), { alg: 'RS256', typ: 'JWT' })
  const { payload } = await jwtVerify(assertion, await importSPKI(PUBLIC_PEM, 'RS256'), {
    issuer: 'demo-pkjwt', subject: 'demo-pkjwt', audience: 'https://tenant.example.com/', currentDate: new Date(clock.now())
  })
  const now = Math.floor(clock.now() / 1000)
  t.equal(payload.iat, now)
  t.equal(payload.exp, now + 60)
  t.type(payload.jti, 'string')
  const secondJti = (await jwtVerify(second.params.client_assertion ?? '', await importSPKI(PUBLIC_PEM, 'RS256'), { currentDate: new Date(clock.now()) })).payload.jti
  t.not(payload.jti, secondJti, 'a fresh jti per request')
  t.ok(Buffer.byteLength(assertion) <= 2048, 'within Auth0\'s 2048-byte limit')
})

t.test('importAssertionKey refuses a key that is not PKCS#8 PEM', async t => {
  await t.rejects(importAssertionKey('not a key', 'RS256'))
})
