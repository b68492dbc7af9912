import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import EngineIO

/// Inputs found by `make fuzz` (Fuzz/Sources/fuzz-websocket), read through the pipeline the server
/// builds after the 101.
@Suite("WebSocket inputs found by fuzzing")
struct EngineWebSocketFuzzRegressionTests {
    /// Completes writes on a later loop turn, as a socket does once the bytes have left;
    /// EmbeddedChannel alone completes them at once.
    private final class SocketPacedWrites: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let sent = context.eventLoop.makePromise(of: Void.self)
            context.write(data, promise: sent)
            let loop = context.eventLoop
            sent.futureResult.whenComplete { result in loop.execute { promise?.completeWith(result) } }
        }
    }

    /// A WebSocket session's connection as EngineIOChannel.startWebSocket sets it up; returns what
    /// the application receives.
    private func connect(_ channel: EmbeddedChannel) throws -> NIOLockedValueBox<[EngineMessage]> {
        let configuration = EngineConfiguration(maxPayload: 1000)
        let engine = EngineServer(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(WebSocketFrameEncoder())
        try pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: configuration.maxPayload)))
        try pipeline.addHandler(WebSocketProtocolErrorHandler())
        let writer = EngineFrameWriter()
        try pipeline.addHandler(writer, position: .first)
        try pipeline.addHandler(SocketPacedWrites(), position: .first)
        try pipeline.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: configuration.maxPayload)
        )
        let handler = EngineWebSocketHandler()
        try pipeline.addHandler(handler)
        let session = engine.makeSession(
            request: EngineRequest(method: .get, target: "/engine.io/?EIO=4&transport=websocket", headers: [:], remoteAddress: nil),
            admission: EngineServer.Admission(id: SessionID.make(), attachments: [:], reservation: SessionReservation(address: nil, identity: nil) { _, _ in }),
            transport: .websocket,
            webSocket: engine.writeQueues.output(for: channel, writer: writer),
            eventLoop: channel.eventLoop
        )
        let received = NIOLockedValueBox<[EngineMessage]>([])
        session.setHandlers(onMessage: { message in received.withLockedValue { $0.append(message) } }, onClose: { _ in })
        handler.session = session
        session.opened()
        return received
    }

    /// A Close (1000) and then the text frame `4late`, both masked, in one read. The Close was
    /// answered and the connection closed once the answer had left, but `late` reached the
    /// application meanwhile.
    @Test func framesAfterTheClientsCloseAreDiscarded() throws {
        let input: [UInt8] = [
            0x88, 0x82, 0x37, 0xFA, 0x21, 0x3D, 0x34, 0x12,
            0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x03, 0x96, 0x40, 0x49, 0x52,
        ]
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let received = try connect(channel)
        try channel.writeInbound(ByteBuffer(bytes: input))
        channel.embeddedEventLoop.run()
        #expect(received.withLockedValue { $0 }.isEmpty)
        #expect(!channel.isActive)
    }

    /// The positive control: the text before the Close is delivered, and the Close still ends
    /// the connection.
    @Test func aTextBeforeTheCloseIsDelivered() throws {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let received = try connect(channel)
        try channel.writeInbound(ByteBuffer(bytes: [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x03, 0x96, 0x40, 0x49, 0x52]))
        channel.embeddedEventLoop.run()
        #expect(received.withLockedValue { $0 } == [.text("late")])
        try channel.writeInbound(ByteBuffer(bytes: [0x88, 0x82, 0x37, 0xFA, 0x21, 0x3D, 0x34, 0x12]))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    /// An empty text frame (not an Engine.IO packet: the session closes with its close packet
    /// `1` queued) and then a continuation frame with nothing to continue (the handler answers
    /// with a Close at once). The session's queued `1` was written after that Close.
    @Test func theSessionWritesNothingAfterTheHandlersClose() throws {
        let input: [UInt8] = [0x81, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00, 0x00, 0x08, 0x00]
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        _ = try connect(channel)
        try? channel.writeInbound(ByteBuffer(bytes: input))
        channel.embeddedEventLoop.run()

        var written = ByteBuffer()
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.writeImmutableBuffer(buffer) }
        let client = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try client.writeInbound(written)
        var opcodes: [WebSocketOpcode] = []
        while let frame = try client.readInbound(as: WebSocketFrame.self) { opcodes.append(frame.opcode) }
        #expect(opcodes.first == .connectionClose, "\(opcodes)")
        #expect(!opcodes.contains(.text), "\(opcodes)")
        #expect(!channel.isActive)
    }
}
