/**
 * Every `/api` WebSocket tunnel belongs to its session (issue #15): when the session ends, on this replica or on
 * another, its tunnels are closed with SESSION_ENDED_CLOSE_CODE. The proxy tells the registry twice about a tunnel:
 * at the handshake (the client's TCP socket and the session's storage key), and once the upstream leg is open (the
 * client's WebSocket, found through its TCP socket). A session that ends between the two closes the tunnel as soon
 * as it opens; `isLive` is asked once at open, for an end announced before the handshake registered.
 */
export const SESSION_ENDED_CLOSE_CODE = 4401
export const SESSION_ENDED_CLOSE_REASON = 'session ended'

/** What the registry needs of the client's TCP socket. */
export interface TunnelSocket {
  once (event: 'close', listener: () => void): unknown
}

/** What the registry needs of the client's WebSocket (ws). */
export interface TunnelWebSocket {
  close (code: number, reason: string): void
}

export interface TunnelRegistry {
  /** The handshake of a tunnel for the session stored under `key`, on this client socket. */
  expect (socket: TunnelSocket, key: string): void
  /** The tunnel is open; `socket` is the one given to expect(). */
  open (socket: TunnelSocket, webSocket: TunnelWebSocket): void
  /** Closes every tunnel of a session; returns how many. */
  close (key: string): number
  /** The storage keys with at least one tunnel (the sweeper checks they are still live). */
  keys (): string[]
  /** Open or opening tunnels. */
  readonly size: number
}

interface Tunnel {
  readonly key: string
  webSocket?: TunnelWebSocket
  ended: boolean
}

export interface TunnelRegistryOptions {
  /** Whether the session stored under a key is still live. */
  readonly isLive: (key: string) => Promise<boolean>
  readonly onError: (err: unknown) => void
}

export function createTunnelRegistry (options: TunnelRegistryOptions): TunnelRegistry {
  const bySocket = new WeakMap<TunnelSocket, Tunnel>()
  const byKey = new Map<string, Set<Tunnel>>()
  let size = 0

  const shut = (tunnel: Tunnel): void => {
    tunnel.ended = true
    tunnel.webSocket?.close(SESSION_ENDED_CLOSE_CODE, SESSION_ENDED_CLOSE_REASON)
  }

  return {
    expect (socket, key) {
      if (bySocket.has(socket)) return
      const tunnel: Tunnel = { key, ended: false }
      bySocket.set(socket, tunnel)
      let tunnels = byKey.get(key)
      if (tunnels === undefined) byKey.set(key, tunnels = new Set())
      tunnels.add(tunnel)
      size++
      socket.once('close', () => {
        bySocket.delete(socket)
        size--
        const set = byKey.get(key)
        set?.delete(tunnel)
        if (set?.size === 0) byKey.delete(key)
      })
    },

    open (socket, webSocket) {
      const tunnel = bySocket.get(socket)
      if (tunnel === undefined) {
        // Not registered at the handshake: no session to tie it to, so it does not stay open.
        webSocket.close(SESSION_ENDED_CLOSE_CODE, SESSION_ENDED_CLOSE_REASON)
        return
      }
      tunnel.webSocket = webSocket
      if (tunnel.ended) {
        shut(tunnel)
        return
      }
      options.isLive(tunnel.key).then(live => { if (!live) shut(tunnel) }, options.onError)
    },

    close (key) {
      const tunnels = byKey.get(key)
      if (tunnels === undefined) return 0
      for (const tunnel of tunnels) shut(tunnel)
      return tunnels.size
    },

    keys () { return [...byKey.keys()] },

    get size () { return size }
  }
}
