import NIOCore
import NIOPosix
import NIOSSL

/// One TCP connection to Redis.
final class RedisConnection: Sendable {
    let channel: any Channel
    static let commandTimeout: TimeAmount = .seconds(2)

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        tls: NIOSSLContext? = nil,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)?,
        onShardUnsubscribed: (@Sendable (String) -> Void)? = nil
    ) async throws -> RedisConnection {
        // SNI takes names only; for an address, NIOSSL checks the certificate's IP entries
        // against the address connected to.
        let serverName = host.isIPAddress ? nil : host
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.seconds(1))
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(onMessage: onMessage, onShardUnsubscribed: onShardUnsubscribed))
                }
            }
            .connect(host: host, port: port)
            .get()
        return RedisConnection(channel: channel)
    }

    /// Sends one command and waits for its reply. A reply slower than the command timeout
    /// fails with ``RedisError/timeout`` and closes the connection (a hung Redis is treated
    /// like a dead one and reconnected).
    func send(_ arguments: [[UInt8]]) async throws -> RESPValue {
        try await write(arguments).get()
    }

    /// Writes the command now (commands leave in call order) and returns the reply's future,
    /// which always completes: with the reply, with the write's error when the command never
    /// reached Redis (the connection closed first), or with `timeout`.
    /// `timeout` is longer for blocking commands (`XREAD BLOCK`) on a connection of their own.
    func write(_ arguments: [[UInt8]], timeout: TimeAmount = commandTimeout) -> EventLoopFuture<RESPValue> {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(RedisError.timeout)
            channel.close(promise: nil)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        // A promise completes once; whichever of reply, write failure and timer comes first wins.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            promise.fail(error is ChannelError ? RedisError.connectionClosed : error)
        }
        channel.writeAndFlush(RedisRequest(arguments: arguments, promise: promise), promise: written)
        return promise.futureResult
    }

    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    func close() {
        channel.close(promise: nil)
    }
}

extension String {
    /// An IPv4 or IPv6 address literal rather than a name.
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
