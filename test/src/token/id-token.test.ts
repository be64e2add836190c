import { readFileSync } from 'node:fs'
import t from 'tap'
import { SignJWT, exportJWK, importPKCS8, importSPKI } from 'jose'
import { createIdTokenVerifier, profileClaims } from '../../../src/token/id-token.js'
import { createManualClock } from '../../helpers/manual-clock.js'

// The demo client key doubles as an IdP signing key here: no key generation per test.
const PEM = readFileSync(new URL('../../../idp/demo-keys/private-key-jwt.pem', import.meta.url), 'utf8')
const clients = JSON.parse(readFileSync(new URL('../../../idp/clients.json', import.meta.url), 'utf8')) as { clients: Array<{ client_id: string, public_key_pem?: string }> }
const privateKey = await importPKCS8(PEM, 'RS256')
const publicJwk = await exportJWK(await importSPKI(clients.clients.find(c => c.client_id === 'demo-pkjwt')?.public_key_pem ?? '', 'RS256'))
const ISSUER = 'https://idp.test/'

async function token (kid: string, now: number): Promise<string> {
  const iat = Math.floor(now / 1000)
  return await new SignJWT({ name: 'A' }).setProtectedHeader({ alg: 'RS256', kid }).setIssuer(ISSUER).setAudience('cid').setSubject('s').setIssuedAt(iat).setExpirationTime(iat + 600).sign(privateKey)
}

t.test('an unknown kid triggers one JWKS refetch per kid, then waits for the cooldown on the injected clock', async t => {
  const clock = createManualClock()
  let published = 'old'
  let fetches = 0
  const fetchJwks = (async () => {
    fetches++
    return new Response(JSON.stringify({ keys: [{ ...publicJwk, kid: published, alg: 'RS256', use: 'sig' }] }), { headers: { 'content-type': 'application/json' } })
  }) as typeof fetch
  const verifier = createIdTokenVerifier({ issuer: ISSUER, clientId: 'cid', alg: 'RS256', jwksUrl: 'https://idp.test/.well-known/jwks.json', clockToleranceSec: 60, timeoutMs: 1000, clock, fetch: fetchJwks })
  t.equal(verifier.keysLoaded, false)
  t.equal((await verifier.verify(await token('old', clock.now()))).sub, 's')
  t.equal(verifier.keysLoaded, true)
  t.equal(fetches, 1)

  published = 'new' // rotation
  t.equal((await verifier.verify(await token('new', clock.now()))).sub, 's', 'the new kid is fetched at once')
  t.equal(fetches, 2)

  // A kid the IdP never publishes: one refetch, then none until the cooldown has passed.
  await t.rejects(verifier.verify(await token('ghost', clock.now())), { name: 'IdTokenError', unavailable: false })
  t.equal(fetches, 3)
  await t.rejects(verifier.verify(await token('ghost', clock.now())), { name: 'IdTokenError' })
  t.equal(fetches, 3, 'no refetch within the cooldown')
  clock.advance(30_000)
  await t.rejects(verifier.verify(await token('ghost', clock.now())), { name: 'IdTokenError' })
  t.equal(fetches, 4, 'refetched after the cooldown')
})

t.test('profileClaims drops technical claims and keeps profile and namespaced ones', async t => {
  t.same(profileClaims({ iss: 'i', aud: 'a', exp: 1, iat: 1, nbf: 1, nonce: 'n', at_hash: 'h', sid: 's', azp: 'z', auth_time: 1, jti: 'j', sub: 'u', name: 'N', 'https://x/roles': ['r'] }),
    { sub: 'u', name: 'N', 'https://x/roles': ['r'] })
})
