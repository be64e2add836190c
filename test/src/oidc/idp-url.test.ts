import t from 'tap'
import { discoveryUrl } from '../../../src/oidc/discovery.js'
import { idpUrl } from '../../../src/oidc/idp-url.js'

t.test('idpUrl: the base is a directory, with or without its trailing slash', async t => {
  t.equal(idpUrl('https://tenant.example', 'mfa/challenge'), 'https://tenant.example/mfa/challenge')
  t.equal(idpUrl('https://tenant.example/', 'mfa/challenge'), 'https://tenant.example/mfa/challenge')
  t.equal(idpUrl('https://idp.example/realms/demo', 'mfa/challenge'), 'https://idp.example/realms/demo/mfa/challenge')
  t.equal(idpUrl('https://idp.example/realms/demo/', '/mfa/challenge'), 'https://idp.example/realms/demo/mfa/challenge', 'a leading slash does not drop the path')
  t.equal(idpUrl('http://127.0.0.1:4010', ''), 'http://127.0.0.1:4010/')
  t.equal(idpUrl('http://127.0.0.1:4010', 'oauth/token'), 'http://127.0.0.1:4010/oauth/token')
})

t.test('discoveryUrl: OIDC Discovery §4, the issuer without its trailing slash + /.well-known/openid-configuration', async t => {
  t.equal(discoveryUrl('https://kc.example.com/realms/demo'), 'https://kc.example.com/realms/demo/.well-known/openid-configuration')
  t.equal(discoveryUrl('https://kc.example.com/realms/demo/'), 'https://kc.example.com/realms/demo/.well-known/openid-configuration')
  t.equal(discoveryUrl('https://tenant.example'), 'https://tenant.example/.well-known/openid-configuration')
})
