import Logging
import NIOCore
import RedisClient
import SocketIO

/// What the two Redis adapters share: local delivery by the in-process adapter, and a broadcast
/// published to the bus before it is delivered here.
protocol BusAdapter: Adapter {
    var local: InMemoryAdapter { get }
    var logger: Logger { get }
    /// Publishes a broadcast (without acks) for the other servers; the future completes once the
    /// bus accepted it.
    func publishBroadcast(_ packet: SocketIOPacket, options: BroadcastOptions) -> EventLoopFuture<RESPValue>
}

extension BusAdapter {
    public func broadcast(_ packet: SocketIOPacket, options: BroadcastOptions) {
        if !options.flags.local { _ = publishBroadcast(packet, options: options) }
        local.broadcast(packet, options: options)
    }

    public func broadcastInOrder(_ packet: SocketIOPacket, options: BroadcastOptions) async {
        if !options.flags.local {
            do {
                _ = try await publishBroadcast(packet, options: options).get()
            } catch {
                logger.warning("broadcast not published to other servers", metadata: ["error": "\(error)"])
            }
        }
        local.broadcast(packet, options: options)
    }
}
