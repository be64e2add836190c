/**
 * How replicas tell each other that a session ended (issue #15): Redis pub/sub on `<prefix>session-ended`, the
 * message being `<replica id>:<storage key>` (a storage key is a SHA-256 of the session id, and is a Redis key name
 * anyway). Subscribing needs a connection of its own: a duplicate of the store's client, which ioredis resubscribes
 * after a reconnect. A message missed while disconnected is made up for by the sweeper, which also closes tunnels
 * whose session is gone from the store.
 */
import { Cluster } from 'ioredis'
import type { RedisClient } from './refresh-lock.js'
import type { EndBus } from './session-end.js'

export function endChannelFor (keyPrefix: string): string {
  return `${keyPrefix}session-ended`
}

export interface RedisEndBusOptions {
  readonly client: RedisClient
  readonly keyPrefix: string
  /** Called when the subscription cannot be made (the bus keeps retrying with the client's reconnection). */
  readonly onError?: (err: Error) => void
}

export async function createRedisEndBus (options: RedisEndBusOptions): Promise<EndBus> {
  const { client, keyPrefix, onError } = options
  const channel = endChannelFor(keyPrefix)
  // The union's two duplicate() signatures do not combine; each kind duplicates itself.
  const subscriber: RedisClient = client instanceof Cluster ? client.duplicate() : client.duplicate()
  const listeners: Array<(message: string) => void> = []
  subscriber.on('error', (err: Error) => { onError?.(err) })
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return
    for (const listener of listeners) listener(message)
  })
  // Subscribed before the gateway serves; a Redis that is down at boot does not stop it: the subscription is then
  // made once ioredis connects (later reconnections resubscribe by themselves).
  let subscribed = false
  const subscribe = async (): Promise<void> => {
    if (subscribed) return
    await subscriber.subscribe(channel)
    subscribed = true
  }
  subscriber.on('ready', () => { subscribe().catch((err: Error) => { onError?.(err) }) })
  if (subscriber.status !== 'ready') {
    // The first attempt ends the wait, whatever its outcome (a Cluster's connect() may settle only much later).
    await new Promise<void>(resolve => {
      const done = (): void => {
        subscriber.off('close', done)
        subscriber.off('ready', done)
        resolve()
      }
      subscriber.once('close', done)
      subscriber.once('ready', done)
      if (subscriber.status === 'wait') {
        subscriber.connect().catch((err: Error) => {
          onError?.(err)
          done()
        })
      }
    })
  }
  if (subscriber.status === 'ready') await subscribe().catch((err: Error) => { onError?.(err) })
  return {
    async publish (message) {
      await client.publish(channel, message)
    },
    subscribe (listener) {
      listeners.push(listener)
    },
    async close () {
      if (subscriber.status === 'ready') await subscriber.quit().catch(() => { subscriber.disconnect() })
      else subscriber.disconnect()
    }
  }
}
