import t from 'tap'
import { buildTestApp, COOKIE_NAME, startTestIdp, testEnv } from '../helpers/gateway.js'
import { MFA_USER } from '../helpers/mfa-user.js'

const CSRF = { 'x-csrf': '1' }

t.test('the session, -mfa and -device cookies share one set of attributes, COOKIE_SAMESITE included', async t => {
  const idp = await startTestIdp(t)
  for (const sameSite of ['strict', 'lax'] as const) {
    const app = await buildTestApp(t, { env: testEnv(idp, { COOKIE_SAMESITE: sameSite }) })
    const alice = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: { username: 'alice@example.com', password: 'alice-password-1' } })
    const mfa = await app.inject({ method: 'POST', url: '/session', headers: CSRF, payload: MFA_USER })
    const cookies = [...alice.cookies, ...mfa.cookies]
    const names = [COOKIE_NAME, `${COOKIE_NAME}-mfa`, `${COOKIE_NAME}-device`]
    for (const name of names) {
      const cookie = cookies.find(c => c.name === name)
      t.match(cookie, { httpOnly: true, secure: true, sameSite: sameSite === 'lax' ? 'Lax' : 'Strict', path: '/' }, `${name} (${sameSite})`)
      t.equal(cookie?.domain, undefined, `${name}: no Domain`)
    }
    const logout = await app.inject({ method: 'DELETE', url: '/session', headers: CSRF, cookies: { [COOKIE_NAME]: alice.cookies.find(c => c.name === COOKIE_NAME)?.value ?? '' } })
    t.match(logout.cookies.find(c => c.name === COOKIE_NAME), { value: '', httpOnly: true, secure: true, sameSite: sameSite === 'lax' ? 'Lax' : 'Strict', path: '/' }, 'cleared with the same attributes')
  }
})
