import t from 'tap'
import { publicOriginLookup } from '../../../src/http/public-origin.js'

t.test('a host names its public origin, with or without the default port, in any case', async t => {
  const lookup = publicOriginLookup(['https://app.example.com', 'http://127.0.0.1:3000', 'http://[::1]:3000'])
  const app = { origin: 'https://app.example.com', host: 'app.example.com', proto: 'https' }
  t.same(lookup('app.example.com'), app)
  t.same(lookup('app.example.com:443'), app)
  t.same(lookup('APP.Example.COM'), app)
  t.same(lookup('127.0.0.1:3000'), { origin: 'http://127.0.0.1:3000', host: '127.0.0.1:3000', proto: 'http' })
  t.same(lookup('[::1]:3000'), { origin: 'http://[::1]:3000', host: '[::1]:3000', proto: 'http' })
  for (const host of ['evil.example', 'app.example.com:80', 'app.example.com.', 'app.example.com:8443', '127.0.0.1', '127.0.0.1:3001', 'x.app.example.com', '']) {
    t.equal(lookup(host), undefined, JSON.stringify(host))
  }
})

t.test('the first origin listed for a host wins', async t => {
  const lookup = publicOriginLookup(['https://gw.example.com', 'http://gw.example.com'])
  t.equal(lookup('gw.example.com')?.proto, 'https')
  t.equal(lookup('gw.example.com:80')?.proto, 'http')
})
