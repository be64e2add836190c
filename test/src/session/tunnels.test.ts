import { EventEmitter } from 'node:events'
import t from 'tap'
import { createTunnelRegistry, SESSION_ENDED_CLOSE_CODE, type TunnelWebSocket } from '../../../src/session/tunnels.js'

function webSocket (): TunnelWebSocket & { closes: Array<[number, string]> } {
  const closes: Array<[number, string]> = []
  return { closes, close (code, reason) { closes.push([code, reason]) } }
}

t.test('a session\'s tunnels close with 4401 when it ends; others stay; a closed socket leaves the registry', async t => {
  const registry = createTunnelRegistry({ isLive: async () => true, onError: err => { t.fail(String(err)) } })
  const [s1, s2, s3] = [new EventEmitter(), new EventEmitter(), new EventEmitter()]
  const [w1, w2, w3] = [webSocket(), webSocket(), webSocket()]
  registry.expect(s1, 'k1')
  registry.expect(s2, 'k1')
  registry.expect(s3, 'k2')
  registry.open(s1, w1)
  registry.open(s2, w2)
  registry.open(s3, w3)
  t.equal(registry.size, 3)
  t.same(registry.keys().sort(), ['k1', 'k2'])
  t.equal(registry.close('k1'), 2)
  t.same(w1.closes, [[SESSION_ENDED_CLOSE_CODE, 'session ended']])
  t.same(w2.closes, [[SESSION_ENDED_CLOSE_CODE, 'session ended']])
  t.same(w3.closes, [])
  s1.emit('close')
  s2.emit('close')
  t.equal(registry.size, 1)
  t.same(registry.keys(), ['k2'])
  t.equal(registry.close('unknown'), 0)
})

t.test('a session that ends between the handshake and the open closes the tunnel as it opens', async t => {
  const registry = createTunnelRegistry({ isLive: async () => true, onError: err => { t.fail(String(err)) } })
  const socket = new EventEmitter()
  registry.expect(socket, 'k')
  registry.close('k')
  const ws = webSocket()
  registry.open(socket, ws)
  t.same(ws.closes, [[SESSION_ENDED_CLOSE_CODE, 'session ended']])
})

t.test('a tunnel whose session is no longer live when it opens (an end announced before the handshake) is closed', async t => {
  const registry = createTunnelRegistry({ isLive: async key => key !== 'gone', onError: err => { t.fail(String(err)) } })
  const socket = new EventEmitter()
  registry.expect(socket, 'gone')
  const ws = webSocket()
  registry.open(socket, ws)
  await new Promise(setImmediate)
  t.same(ws.closes, [[SESSION_ENDED_CLOSE_CODE, 'session ended']])
})

t.test('a tunnel never registered at its handshake is closed at once', async t => {
  const registry = createTunnelRegistry({ isLive: async () => true, onError: err => { t.fail(String(err)) } })
  const ws = webSocket()
  registry.open(new EventEmitter(), ws)
  t.same(ws.closes, [[SESSION_ENDED_CLOSE_CODE, 'session ended']])
})
