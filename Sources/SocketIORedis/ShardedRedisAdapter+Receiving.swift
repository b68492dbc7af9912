import NIOCore
import RedisClient
import SocketIO

extension ShardedRedisAdapter {
    /// Everything on this namespace's channels: envelopes of other servers for this namespace.
    /// Malformed ones are logged and dropped.
    func receive(_ message: RedisPubSubMessage) {
        guard message.channel.hasPrefix(mainChannel) else { return }
        // A room no local socket is in any more (its unsubscribe may be on its way): skip it.
        if message.channel != mainChannel, message.channel != ownChannel {
            var room = String(message.channel.dropFirst(mainChannel.count))
            if room.hasSuffix("#") { room.removeLast() }
            if local.matchingSocketIDs(BroadcastOptions(rooms: [room])).isEmpty { return }
        }
        receiveEnvelope(message)
    }

    /// Responses go to the requester's own channel only.
    func respond(to requester: String, _ type: ClusterMessageType, _ data: JSONValue) {
        publish(type, data, to: mainChannel + requester + "#")
    }
}
