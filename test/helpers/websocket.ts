/** A WebSocket upgrade through the gateway: the open socket, or the HTTP status the upgrade was refused with. */
import WebSocket from 'ws'

export interface Upgrade { socket?: WebSocket, status?: number }

export async function connectWebSocket (url: string, headers: Record<string, string>): Promise<Upgrade> {
  return await new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers })
    socket.once('open', () => { resolve({ socket }) })
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 })
      res.resume()
      socket.terminate()
    })
    socket.once('error', reject)
  })
}
