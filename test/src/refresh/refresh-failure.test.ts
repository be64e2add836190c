import t from 'tap'
import { classifyRefreshFailure } from '../../../src/refresh/refresh-failure.js'
import { IdpError } from '../../../src/token/idp-error.js'

t.test('what an IdP failure at refresh means', async t => {
  const oauth = (status: number, error: string, description?: string): IdpError => new IdpError('oauth', { status, error, ...(description === undefined ? {} : { description }) })
  t.equal(classifyRefreshFailure(oauth(403, 'invalid_grant')), 'refused')
  t.equal(classifyRefreshFailure(oauth(403, 'access_denied', 'user is blocked')), 'refused')
  t.equal(classifyRefreshFailure(oauth(401, 'access_denied', 'Unauthorized')), 'misconfigured', 'Auth0\'s client-authentication failure is not the user\'s')
  t.equal(classifyRefreshFailure(oauth(401, 'invalid_client')), 'misconfigured')
  t.equal(classifyRefreshFailure(oauth(429, 'too_many_requests')), 'rate_limited')
  t.equal(classifyRefreshFailure(new IdpError('malformed', { status: 429 })), 'rate_limited', 'a 429 whatever its body')
  t.equal(classifyRefreshFailure(oauth(400, 'unauthorized_client')), 'misconfigured')
  t.equal(classifyRefreshFailure(oauth(503, 'temporarily_unavailable')), 'transient')
  for (const kind of ['malformed', 'network', 'timeout'] as const) t.equal(classifyRefreshFailure(new IdpError(kind)), 'transient', kind)
})
