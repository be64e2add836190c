import t from 'tap'
import { rotate } from '../../../src/refresh/rotation.js'
import type { SessionRecord } from '../../../src/session/session-store.js'

t.test('rotate: the new tokens, a new version, no more not-before', async t => {
  const current: SessionRecord = {
    sub: 's', user: { name: 'old' }, accessToken: 'at-0', refreshToken: 'rt-0', expiresAt: 1, lifetimeMs: 1, scope: 'openid offline_access',
    createdAt: 0, absoluteExpiresAt: 9, lastSeenAt: 0, version: 4, refreshNotBefore: 5, refreshBlockedBy: 'idp_unavailable', userAgent: 'ua'
  }
  const tokens = { accessToken: 'at-1', refreshToken: 'rt-1', idToken: undefined, expiresAt: 300, lifetimeMs: 299, scope: undefined, recoveryCode: undefined }
  t.same(rotate(current, tokens, { name: 'new' }, 7), {
    sub: 's', user: { name: 'new' }, accessToken: 'at-1', refreshToken: 'rt-1', expiresAt: 300, lifetimeMs: 299, scope: 'openid offline_access',
    createdAt: 0, absoluteExpiresAt: 9, lastSeenAt: 0, version: 5, lastRefreshAt: 7, userAgent: 'ua'
  })
  t.equal(rotate(current, { ...tokens, refreshToken: undefined, scope: 'openid' }, current.user, 7).refreshToken, 'rt-0', 'no rotation: the stored refresh token stays')
})
