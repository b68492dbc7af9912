import EngineIO
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import SocketIO

/// Opens one benchmark client: TCP connect, HTTP/1.1 upgrade to WebSocket, Engine.IO open,
/// Socket.IO CONNECT. The returned future succeeds with the channel once the server has
/// acknowledged CONNECT; by then `SocketIOClientHandler` and the scenario's handlers are installed.
struct ClientConnector: Sendable {
    var handshakeTimeout: TimeAmount = .seconds(15)
    var census: ConnectionCensus
    /// Adds the scenario's handlers after `SocketIOClientHandler`; runs on the channel's event loop.
    var scenarioHandlers: @Sendable (Channel) throws -> Void
    /// Offer permessage-deflate and inflate what the server sends compressed.
    var perMessageDeflate = false
    /// Where a connection counts the bytes it receives off the wire, if anywhere; runs on its event loop.
    var wireBytes: (@Sendable (EventLoop) -> WireBytes)? = nil

    /// Largest WebSocket message accepted; bids are tiny, this only guards against a runaway server.
    private static let maximumMessageSize = 1 << 20

    /// `auth` is the CONNECT packet's payload (Socket.IO's `auth` option); `headers` are added to
    /// the upgrade request, e.g. `Authorization` for servers that check it before the session exists.
    func connect(
        to address: ServerAddress,
        room: String?,
        auth: JSONValue? = nil,
        headers extraHeaders: [(name: String, value: String)] = [],
        on eventLoop: EventLoop
    ) -> EventLoopFuture<Channel> {
        let connected = eventLoop.makePromise(of: Void.self)
        let census = self.census
        let scenarioHandlers = self.scenarioHandlers
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.hostHeader)
        headers.add(name: "Content-Length", value: "0")
        for header in extraHeaders { headers.add(name: header.name, value: header.value) }
        let perMessageDeflate = self.perMessageDeflate
        if perMessageDeflate { headers.add(name: "Sec-WebSocket-Extensions", value: PerMessageDeflateClient.offer) }
        let wireBytes = self.wireBytes
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: address.webSocketTarget(room: room), headers: headers)

        let timeout = eventLoop.scheduleTask(in: handshakeTimeout) {
            connected.fail(ClientHandshakeError.timedOut)
        }
        connected.futureResult.whenComplete { _ in timeout.cancel() }

        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(handshakeTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let wireBytes {
                        try channel.pipeline.syncOperations.addHandler(WireByteCounter(counter: wireBytes(channel.eventLoop)))
                    }
                    let upgrader = NIOTypedWebSocketClientUpgrader<Void>(
                        maxFrameSize: Self.maximumMessageSize,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let inflating: [ChannelHandler] = perMessageDeflate ? [InflatingFrameHandler(limit: Self.maximumMessageSize)] : []
                                let handlers: [ChannelHandler] = inflating + [
                                    NIOWebSocketFrameAggregator(
                                        minNonFinalFragmentSize: 0,
                                        maxAccumulatedFrameCount: 1024,
                                        maxAccumulatedFrameSize: Self.maximumMessageSize
                                    ),
                                    SocketIOClientHandler(connected: connected, census: census, auth: auth),
                                ]
                                try channel.pipeline.syncOperations.addHandlers(handlers)
                                try scenarioHandlers(channel)
                            }
                        }
                    )
                    let upgrade = NIOTypedHTTPClientUpgradeConfiguration<Void>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.close(promise: nil)
                            return channel.eventLoop.makeFailedFuture(ClientHandshakeError.upgradeRefused)
                        }
                    )
                    var configuration = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: upgrade)
                    // The server may send the Engine.IO open packet in the same segment as its 101 response.
                    configuration.leftOverBytesStrategy = .forwardBytes
                    let upgraded = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: configuration
                    )
                    upgraded.whenFailure { connected.fail($0) }
                }
            }

        return bootstrap.connect(host: address.host, port: address.port).flatMap { channel in
            connected.futureResult.flatMapError { error in
                // Closing frees the descriptor of a client that will never be used.
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }.map { channel }
        }.flatMapError { error in
            connected.fail(error)
            return eventLoop.makeFailedFuture(error)
        }
    }
}
