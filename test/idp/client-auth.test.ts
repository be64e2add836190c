import { randomUUID, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { SignJWT, importPKCS8, jwtVerify } from 'jose'
import { parseBasic } from '../../idp/client-auth.js'
import { ALICE, BASIC, GATEWAY, HS256, PKJWT_CLIENT_ID, PKJWT_PRIVATE_KEY_PEM, startTestIdp, str, token } from './fixtures/idp-kit.js'
import type { TestIdp } from './fixtures/idp-kit.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const user = { grant_type: 'password', username: ALICE.username, password: ALICE.password, scope: 'openid' }

function basicHeader (id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
}

async function assertion (idp: TestIdp, claims: Record<string, unknown> = {}, alg = 'RS256'): Promise<string> {
  const key = await importPKCS8(PKJWT_PRIVATE_KEY_PEM, alg)
  const now = Math.floor(idp.clock.now() / 1000)
  return await new SignJWT({ iss: PKJWT_CLIENT_ID, sub: PKJWT_CLIENT_ID, aud: idp.issuer, jti: randomUUID(), iat: now, exp: now + 60, ...claims })
    .setProtectedHeader({ alg }).sign(key)
}

t.test('client_secret_post', async t => {
  const idp = await startTestIdp(t)
  t.equal((await token(idp, { ...user, ...GATEWAY })).status, 200)
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'client_secret_post')
  const wrong = await token(idp, { ...user, client_id: GATEWAY.client_id, client_secret: 'wrong' })
  t.equal(wrong.status, 401)
  t.same(wrong.body, { error: 'access_denied', error_description: 'Unauthorized' })
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'invalid')
  const none = await token(idp, { ...user, client_id: GATEWAY.client_id })
  t.equal(none.status, 401)
  t.equal(none.body.error, 'invalid_client')
  const unknown = await token(idp, { ...user, client_id: 'nope', client_secret: 'x' })
  t.equal(unknown.body.error, 'invalid_client')
  const missing = await token(idp, { ...user })
  t.equal(missing.status, 400)
})

t.test('client_secret_basic form-urlencodes id and secret (RFC 6749 §2.3.1)', async t => {
  const idp = await startTestIdp(t)
  const ok = await token(idp, user, { headers: { authorization: basicHeader(BASIC.client_id, BASIC.client_secret) } })
  t.equal(ok.status, 200)
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'client_secret_basic')
  const withBodyId = await token(idp, { ...user, client_id: BASIC.client_id }, { headers: { authorization: basicHeader(BASIC.client_id, BASIC.client_secret) } })
  t.equal(withBodyId.status, 200, 'client_id may repeat in the body')
  const otherId = await token(idp, { ...user, client_id: 'someone-else' }, { headers: { authorization: basicHeader(BASIC.client_id, BASIC.client_secret) } })
  t.equal(otherId.body.error, 'invalid_client')
  const wrong = await token(idp, user, { headers: { authorization: basicHeader(BASIC.client_id, 'nope') } })
  t.equal(wrong.status, 401)
  const asPost = await token(idp, { ...user, ...BASIC })
  t.equal(asPost.status, 401)
  t.equal(asPost.body.error, 'invalid_client', 'method mismatch')
  const gatewayAsBasic = await token(idp, user, { headers: { authorization: basicHeader(GATEWAY.client_id, GATEWAY.client_secret) } })
  t.equal(gatewayAsBasic.body.error, 'invalid_client')
  const both = await token(idp, { ...user, client_secret: 'x' }, { headers: { authorization: basicHeader(BASIC.client_id, BASIC.client_secret) } })
  t.equal(both.body.error, 'invalid_client', 'two methods at once')
  const garbage = await token(idp, user, { headers: { authorization: 'Basic !!!' } })
  t.equal(garbage.status, 401)
  t.same(parseBasic(basicHeader('a b', 'c:d%')), { id: 'a b', secret: 'c:d%' })
  t.throws(() => parseBasic(`Basic ${Buffer.from('a:%zz').toString('base64')}`))
})

t.test('private_key_jwt: accepted, algorithms, audience forms, replay refused', async t => {
  const idp = await startTestIdp(t)
  const a1 = await assertion(idp)
  const ok = await token(idp, { ...user, client_id: PKJWT_CLIENT_ID, client_assertion_type: ASSERTION_TYPE, client_assertion: a1 })
  t.equal(ok.status, 200)
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'private_key_jwt')
  const replay = await token(idp, { ...user, client_id: PKJWT_CLIENT_ID, client_assertion_type: ASSERTION_TYPE, client_assertion: a1 })
  t.equal(replay.status, 401)
  t.equal(replay.body.error, 'invalid_client')
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'invalid')

  for (const alg of ['RS384', 'PS256']) {
    const res = await token(idp, { ...user, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(idp, {}, alg) })
    t.equal(res.status, 200, `${alg}, client_id taken from the assertion`)
  }
  const tokenAud = await token(idp, { ...user, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(idp, { aud: `${idp.issuer}oauth/token` }) })
  t.equal(tokenAud.status, 200, 'token endpoint URL as aud')

  const bad: Array<[string, Record<string, unknown>]> = [
    ['aud without trailing slash', { aud: idp.url }],
    ['wrong iss', { iss: 'other' }],
    ['expired', { exp: Math.floor(idp.clock.now() / 1000) - 60 }],
    ['exp more than 5 min ahead', { exp: Math.floor(idp.clock.now() / 1000) + 600 }],
    ['no jti', { jti: undefined }]
  ]
  for (const [name, claims] of bad) {
    const res = await token(idp, { ...user, client_id: PKJWT_CLIENT_ID, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(idp, claims) })
    t.equal(res.status, 401, name)
    t.equal(res.body.error, 'invalid_client', name)
  }
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const now = Math.floor(idp.clock.now() / 1000)
  const forged = await new SignJWT({ iss: PKJWT_CLIENT_ID, sub: PKJWT_CLIENT_ID, aud: idp.issuer, jti: randomUUID(), exp: now + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(other)
  t.equal((await token(idp, { ...user, client_assertion_type: ASSERTION_TYPE, client_assertion: forged })).status, 401, 'wrong key')
  const wrongType = await token(idp, { ...user, client_id: PKJWT_CLIENT_ID, client_assertion_type: 'x', client_assertion: await assertion(idp) })
  t.equal(wrongType.body.error, 'invalid_request')
  const postForPk = await token(idp, { ...user, client_id: PKJWT_CLIENT_ID, client_secret: 'x' })
  t.equal(postForPk.body.error, 'invalid_client')

  // the replay cache forgets assertions once they expire
  idp.clock.advance(3_600_000)
  t.equal((await token(idp, { ...user, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(idp) })).status, 200)
})

t.test('none: public clients send only client_id; a confidential client cannot', async t => {
  const idp = await startTestIdp(t)
  t.equal((await token(idp, { ...user, client_id: 'demo-public' })).status, 200)
  t.equal(idp.calls.at(-1)?.clientAuthMethod, 'none')
  t.equal((await token(idp, { ...user, client_id: 'demo-public', client_secret: 'x' })).body.error, 'invalid_client')
})

t.test('HS256 id tokens are signed with the client secret', async t => {
  const idp = await startTestIdp(t)
  const res = await token(idp, { ...user, ...HS256 })
  t.equal(res.status, 200)
  const { payload, protectedHeader } = await jwtVerify(str(res.body.id_token), new TextEncoder().encode(HS256.client_secret), {
    issuer: idp.issuer, audience: HS256.client_id, currentDate: new Date(idp.clock.now())
  })
  t.equal(protectedHeader.alg, 'HS256')
  t.equal(payload.sub, ALICE.id)
})
