import t from 'tap'
import { decodeProtectedHeader } from 'jose'
import { ALICE, GATEWAY, login, startTestIdp, str, verifyWithJwks } from './fixtures/idp-kit.js'
import type { TestIdp } from './fixtures/idp-kit.js'

async function userinfo (idp: TestIdp, authorization?: string): Promise<Response> {
  return await fetch(`${idp.url}/userinfo`, { headers: authorization === undefined ? {} : { authorization } })
}

t.test('userinfo returns the profile for a valid access token', async t => {
  const idp = await startTestIdp(t)
  const at = str((await login(idp)).body.access_token)
  const res = await userinfo(idp, `Bearer ${at}`)
  t.equal(res.status, 200)
  t.same(await res.json(), {
    name: 'Alice Example',
    nickname: 'alice',
    picture: 'https://example.com/avatars/alice.png',
    updated_at: '2030-01-01T00:00:00.000Z',
    email: 'alice@example.com',
    email_verified: true,
    'https://example.com/roles': ['admin'],
    sub: ALICE.id
  })
  t.equal(idp.stats.userinfoCalls, 1)
})

t.test('userinfo refuses missing, malformed, expired and foreign tokens', async t => {
  const idp = await startTestIdp(t)
  const at = str((await login(idp)).body.access_token)
  for (const [name, header] of [['missing', undefined], ['not bearer', `Basic ${at}`], ['garbage', 'Bearer abc.def.ghi']] as const) {
    const res = await userinfo(idp, header)
    t.equal(res.status, 401, name)
    t.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token"/, name)
    t.equal((await res.json()).error, 'invalid_token')
  }
  idp.clock.advance(301_000)
  t.equal((await userinfo(idp, `Bearer ${at}`)).status, 401, 'expired by the clock')

  const other = await startTestIdp(t)
  const foreign = str((await login(other)).body.access_token)
  t.equal((await userinfo(idp, `Bearer ${foreign}`)).status, 401, 'signed by another IdP')
})

t.test('discovery document', async t => {
  const idp = await startTestIdp(t)
  const doc = await (await fetch(`${idp.url}/.well-known/openid-configuration`)).json()
  t.equal(doc.issuer, idp.issuer)
  t.equal(doc.token_endpoint, `${idp.url}/oauth/token`)
  t.equal(doc.userinfo_endpoint, `${idp.url}/userinfo`)
  t.equal(doc.jwks_uri, `${idp.url}/.well-known/jwks.json`)
  t.equal(doc.revocation_endpoint, `${idp.url}/oauth/revoke`)
  t.same(doc.token_endpoint_auth_signing_alg_values_supported, ['RS256', 'RS384', 'PS256'])
  t.ok(doc.token_endpoint_auth_methods_supported.includes('private_key_jwt'))
  t.ok(doc.id_token_signing_alg_values_supported.includes('RS256'))
  for (const key of ['scopes_supported', 'response_types_supported', 'subject_types_supported', 'grant_types_supported']) t.ok(Array.isArray(doc[key]), key)
})

t.test('JWKS and key rotation with and without the old key', async t => {
  const idp = await startTestIdp(t)
  const jwks = await (await fetch(`${idp.url}/.well-known/jwks.json`)).json()
  t.equal(jwks.keys.length, 1)
  const [key] = jwks.keys
  t.same(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'])
  t.equal(key.alg, 'RS256')
  t.equal(key.use, 'sig')

  const before = str((await login(idp)).body.id_token)
  t.equal(decodeProtectedHeader(before).kid, key.kid)
  const { kid } = await idp.rotateKeys({ keepOld: true })
  t.not(kid, key.kid)
  const after = str((await login(idp)).body.id_token)
  t.equal(decodeProtectedHeader(after).kid, kid)
  t.equal((await (await fetch(`${idp.url}/.well-known/jwks.json`)).json()).keys.length, 2)
  await verifyWithJwks(idp, before, GATEWAY.client_id)
  await verifyWithJwks(idp, after, GATEWAY.client_id)

  await idp.rotateKeys({ keepOld: false })
  const keys = (await (await fetch(`${idp.url}/.well-known/jwks.json`)).json()).keys
  t.equal(keys.length, 1)
  await t.rejects(verifyWithJwks(idp, after, GATEWAY.client_id), 'old key no longer published')
})
