import t from 'tap'
import { decodeJwt } from 'jose'
import { ALICE, GATEWAY, NO_REFRESH, login, post, refresh, startTestIdp, str } from './fixtures/idp-kit.js'
import type { TestIdp } from './fixtures/idp-kit.js'

const INVALID_RT = { error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' }

async function loginRt (idp: TestIdp, extra: Record<string, string> = {}): Promise<string> {
  return str((await login(idp, extra)).body.refresh_token)
}

t.test('rotation: each exchange returns a new refresh token and a new id_token', async t => {
  const idp = await startTestIdp(t)
  const rt0 = await loginRt(idp, { audience: 'https://api.example.com' })
  idp.clock.advance(10_000)
  const r1 = await refresh(idp, rt0)
  t.equal(r1.status, 200)
  t.equal(r1.headers.get('cache-control'), 'no-store')
  t.equal(r1.body.scope, 'openid profile email offline_access')
  t.type(r1.body.id_token, 'string')
  t.not(r1.body.refresh_token, rt0)
  const at = decodeJwt(str(r1.body.access_token))
  t.same(at.aud, ['https://api.example.com', `${idp.issuer}userinfo`], 'the family keeps its audience')
  t.equal(at.iat, Math.floor(idp.clock.now() / 1000))
  const r2 = await refresh(idp, str(r1.body.refresh_token))
  t.equal(r2.status, 200)
  t.equal(idp.stats.tokenCalls.refresh_token, 2)
  t.equal(idp.stats.tokenCalls.password, 1)
  t.equal(idp.stats.tokenCalls.total, 3)
})

t.test('reuse of a rotated token revokes the whole family', async t => {
  const idp = await startTestIdp(t)
  const rt0 = await loginRt(idp)
  const rt1 = str((await refresh(idp, rt0)).body.refresh_token)
  const reuse = await refresh(idp, rt0)
  t.equal(reuse.status, 403)
  t.same(reuse.body, INVALID_RT)
  t.equal(idp.stats.reuseDetections, 1)
  const newest = await refresh(idp, rt1)
  t.equal(newest.status, 403, 'the newest token is dead too')
  t.same(newest.body, INVALID_RT)
  t.equal(idp.stats.reuseDetections, 1, 'a revoked family does not count again')
  t.equal((await refresh(idp, 'never-issued')).status, 403)
})

t.test('leeway: the immediately previous token works inside the window only', async t => {
  const idp = await startTestIdp(t, { refreshToken: { leewaySec: 10 } })
  const rt0 = await loginRt(idp)
  const rt1 = str((await refresh(idp, rt0)).body.refresh_token)
  idp.clock.advance(5_000)
  const again = await refresh(idp, rt0)
  t.equal(again.status, 200, 'previous token within leeway')
  const rt1b = str(again.body.refresh_token)
  t.not(rt1b, rt1)
  t.equal(idp.stats.reuseDetections, 0)
  // both tokens issued from rt0 are usable; exchanging one rotates the family
  const rt2 = str((await refresh(idp, rt1)).body.refresh_token)
  const secondToLast = await refresh(idp, rt0)
  t.equal(secondToLast.status, 403, 'second-to-last token triggers detection')
  t.equal(idp.stats.reuseDetections, 1)
  t.equal((await refresh(idp, rt2)).status, 403)
})

t.test('leeway expires with the clock', async t => {
  const idp = await startTestIdp(t, { refreshToken: { leewaySec: 10 } })
  const rt0 = await loginRt(idp)
  await refresh(idp, rt0)
  idp.clock.advance(10_001)
  t.equal((await refresh(idp, rt0)).status, 403)
  t.equal(idp.stats.reuseDetections, 1)
})

t.test('absolute lifetime is fixed at login; idle lifetime renews on exchange', async t => {
  const idp = await startTestIdp(t, { refreshToken: { absoluteLifetimeSec: 100, idleLifetimeSec: 40 } })
  let rt = await loginRt(idp)
  for (let i = 0; i < 2; i++) {
    idp.clock.advance(39_000)
    const res = await refresh(idp, rt)
    t.equal(res.status, 200, `exchange ${i} inside idle window`)
    rt = str(res.body.refresh_token)
  }
  idp.clock.advance(23_000) // 101 s since login, 23 s idle
  const res = await refresh(idp, rt)
  t.equal(res.status, 403, 'absolute lifetime reached')
  t.same(res.body, INVALID_RT)

  const idle = await loginRt(idp)
  idp.clock.advance(40_000)
  t.equal((await refresh(idp, idle)).status, 403, 'idle lifetime reached')
  t.equal(idp.stats.reuseDetections, 0)
})

t.test('non-rotating refresh tokens are reused and no new one is returned', async t => {
  const idp = await startTestIdp(t, { refreshToken: { rotation: false } })
  const rt = await loginRt(idp)
  const r1 = await refresh(idp, rt)
  t.equal(r1.status, 200)
  t.equal(r1.body.refresh_token, undefined)
  t.equal((await refresh(idp, rt)).status, 200)
})

t.test('scope narrowing, invalid_scope, and no id_token without openid', async t => {
  const idp = await startTestIdp(t)
  const rt = await loginRt(idp)
  const narrowed = await refresh(idp, rt, { scope: 'offline_access profile' })
  t.equal(narrowed.status, 200)
  t.equal(narrowed.body.scope, 'offline_access profile')
  t.equal(narrowed.body.id_token, undefined)
  const wider = await refresh(idp, str(narrowed.body.refresh_token), { scope: 'openid admin' })
  t.equal(wider.status, 400)
  t.equal(wider.body.error, 'invalid_scope')
  const full = await refresh(idp, str(narrowed.body.refresh_token))
  t.equal(full.body.scope, 'openid profile email offline_access', 'the family keeps its original scope')
})

t.test('refresh errors: missing token, other client, blocked user, revoked sessions', async t => {
  const idp = await startTestIdp(t)
  const missing = await refresh(idp, '')
  t.equal(missing.status, 400)
  t.equal(missing.body.error, 'invalid_request')

  const rt = await loginRt(idp)
  const foreign = await post(`${idp.url}/oauth/token`, { grant_type: 'refresh_token', client_id: 'demo-public', refresh_token: rt })
  t.equal(foreign.status, 403, 'a token of another client is invalid_grant')
  const notAllowed = await post(`${idp.url}/oauth/token`, { grant_type: 'refresh_token', ...NO_REFRESH, refresh_token: rt })
  t.equal(notAllowed.body.error, 'unauthorized_client')

  idp.blockUser(ALICE.id)
  const blocked = await refresh(idp, rt)
  t.equal(blocked.status, 403)
  t.same(blocked.body, { error: 'invalid_grant', error_description: 'user is blocked' })
  idp.blockUser(ALICE.id, false)
  const unblocked = await refresh(idp, rt)
  t.equal(unblocked.status, 200, 'blocking does not consume the token')

  t.equal(idp.revokeUserSessions(ALICE.id), 1)
  t.same((await refresh(idp, str(unblocked.body.refresh_token))).body, INVALID_RT)
  t.equal(idp.revokeUserSessions('auth0|nobody'), 0)
  t.throws(() => { idp.blockUser('auth0|nobody') })
})

t.test('revoke endpoint: JSON and form, family revoked, unknown token 200, errors', async t => {
  const idp = await startTestIdp(t)
  const rt0 = await loginRt(idp)
  const rt1 = str((await refresh(idp, rt0)).body.refresh_token)
  const revoked = await post(`${idp.url}/oauth/revoke`, { ...GATEWAY, token: rt0 }, { json: true })
  t.equal(revoked.status, 200)
  t.equal(revoked.text, '')
  t.equal(idp.stats.revocations, 1)
  t.same((await refresh(idp, rt1)).body, INVALID_RT, 'revoking any token of the family revokes the current one')
  t.equal(idp.stats.reuseDetections, 0)

  const rt2 = await loginRt(idp)
  t.equal((await post(`${idp.url}/oauth/revoke`, { ...GATEWAY, token: rt2 })).status, 200, 'form body')
  t.equal((await refresh(idp, rt2)).status, 403)
  t.equal((await post(`${idp.url}/oauth/revoke`, { ...GATEWAY, token: 'unknown' }, { json: true })).status, 200)
  t.equal(idp.stats.revocations, 2)
  t.equal(idp.stats.revokeCalls, 3)

  const missing = await post(`${idp.url}/oauth/revoke`, { ...GATEWAY }, { json: true })
  t.equal(missing.status, 400)
  t.equal(missing.body.error, 'invalid_request')
  const badClient = await post(`${idp.url}/oauth/revoke`, { client_id: GATEWAY.client_id, client_secret: 'x', token: rt2 }, { json: true })
  t.equal(badClient.status, 401)
  const rt3 = await loginRt(idp)
  t.equal((await post(`${idp.url}/oauth/revoke`, { client_id: 'demo-public', token: rt3 }, { json: true })).status, 200)
  t.equal((await refresh(idp, rt3)).status, 200, 'another client cannot revoke the token')
})
