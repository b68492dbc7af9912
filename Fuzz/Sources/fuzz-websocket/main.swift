import FuzzSupport
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket

@testable import EngineIO

// What a client sends on an Engine.IO WebSocket after the 101, through the pipeline the server
// builds for it: NIO's frame decoder and protocol error handler as NIOTypedWebSocketServerUpgrader
// installs them (automatic error handling on, as EngineIOChannel leaves it), then what
// EngineIOChannel.startWebSocket adds: our frame writer, NIO's aggregator with our limits, our
// EngineWebSocketHandler and a session. Keep `makeConnection` in step with startWebSocket.
//
// The first input byte chooses the session (bit 0: a polling session upgrading, else a WebSocket
// one) and how the rest is cut into reads; the rest is the client's bytes.
//
// Checked besides "no crash": the same bytes read in one piece and cut into pieces give the same
// frames, errors and messages until the connection ends (the client's Close, a protocol error or
// the session's end); nothing reaches the application after that (RFC 6455 §1.4: a peer that
// received a Close discards further data); the server writes whole, unmasked frames and no data
// frame after its Close; and a closed connection leaves no session behind.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

/// Small enough for the fuzzer to reach the size limits of the decoder and the aggregator often.
let maxPayload = 1000
let configuration = EngineConfiguration(
    pingInterval: .seconds(1_000_000_000),  // heartbeats never fire while an input runs
    pingTimeout: .seconds(1_000_000_000),
    maxPayload: maxPayload
)
let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    guard let mode = bytes.first else { return 0 }
    let client = Array(bytes.dropFirst())
    let upgrading = mode & 1 == 1
    let whole = run(client: [client[...]], upgrading: upgrading, checkingOutput: true)
    let cut = run(client: pieces(of: client, seed: mode >> 1), upgrading: upgrading, checkingOutput: false)
    require(whole.untilConnectionEnds == cut.untilConnectionEnds, "\(bytes): in one read \(whole.events), in pieces \(cut.events)")
    return 0
}

enum Event: Equatable {
    case frame(WebSocketOpcode, fin: Bool, length: Int)
    case error(String)
    case message(EngineMessage)
    case sessionClosed(EngineCloseReason)

    /// After the client's Close, a protocol error or the end of the session, the connection is over.
    var endsConnection: Bool {
        switch self {
        case .frame(let opcode, _, _): opcode == .connectionClose
        case .error, .sessionClosed: true
        case .message: false
        }
    }
}

/// What the handlers saw, in order: frames and errors leaving the aggregator, what the session
/// told the application.
final class EventLog: @unchecked Sendable {
    var events: [Event] = []

    var untilConnectionEnds: ArraySlice<Event> {
        events[..<(events.firstIndex { $0.endsConnection }.map { $0 + 1 } ?? events.endIndex)]
    }
}

/// Sits between the aggregator and EngineWebSocketHandler and records what passes.
final class FrameRecorder: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    let log: EventLog

    init(log: EventLog) { self.log = log }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        log.events.append(.frame(frame.opcode, fin: frame.fin, length: frame.length))
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        log.events.append(.error(String(describing: error)))
        context.fireErrorCaught(error)
    }
}

func run(client pieces: [ArraySlice<UInt8>], upgrading: Bool, checkingOutput: Bool) -> EventLog {
    let log = EventLog()
    // A loop and an engine per run: the engine keeps one write queue per loop, and timers and
    // queued sessions die with them.
    let loop = EmbeddedEventLoop()
    let engine = EngineServer(configuration: configuration, logger: logger)
    let (channel, session) = makeConnection(engine: engine, loop: loop, log: log, upgrading: upgrading)

    for piece in pieces where channel.isActive {
        try? channel.writeInbound(ByteBuffer(bytes: piece))
        loop.run()
    }
    let late = log.events[log.untilConnectionEnds.endIndex...]
    require(!late.contains { if case .message = $0 { true } else { false } }, "messages after the connection ended: \(log.events)")
    // Frames still waiting for the coalescing window leave when the window has passed.
    loop.advanceTime(to: .now() + .milliseconds(5))
    if checkingOutput { checkServerFrames(channel, log: log) }

    _ = try? channel.close().wait()
    loop.run()
    if !upgrading || session.transport != .polling {
        require(session.isClosed, "the WebSocket closed, its session is still open: \(log.events)")
    }
    session.close()
    loop.run()
    require(engine.sessionCount == 0, "a closed session is still registered: \(log.events)")
    loop.advanceTime(to: .now() + .milliseconds(5))
    try? loop.syncShutdownGracefully()
    return log
}

/// Completes each write on a later loop turn, as a socket does once the bytes have left, where
/// EmbeddedChannel completes it at once. Handlers that close "when the Close frame is sent" then
/// see the rest of the client's bytes first, as they do on a real connection.
final class SocketPacedWrites: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let sent = context.eventLoop.makePromise(of: Void.self)
        context.write(data, promise: sent)
        let loop = context.eventLoop
        sent.futureResult.whenComplete { result in loop.execute { promise?.completeWith(result) } }
    }
}

func makeConnection(engine: EngineServer, loop: EmbeddedEventLoop, log: EventLog, upgrading: Bool) -> (EmbeddedChannel, EngineSession) {
    let channel = EmbeddedChannel(loop: loop)
    try! channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    let pipeline = channel.pipeline.syncOperations
    // NIOTypedWebSocketServerUpgrader.
    try! pipeline.addHandler(WebSocketFrameEncoder())
    try! pipeline.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxPayload)))
    try! pipeline.addHandler(WebSocketProtocolErrorHandler())
    // EngineIOChannel.startWebSocket.
    let handler = EngineWebSocketHandler()
    let writer = EngineFrameWriter()
    try! pipeline.addHandler(writer, position: .first)
    try! pipeline.addHandler(SocketPacedWrites(), position: .first)
    let output = engine.writeQueues.output(for: channel, writer: writer)
    try! pipeline.addHandler(
        NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxPayload)
    )
    try! pipeline.addHandler(FrameRecorder(log: log))
    try! pipeline.addHandler(handler)

    let target = "/engine.io/?EIO=4&transport=" + (upgrading ? "polling" : "websocket")
    let request = EngineRequest(method: .get, target: target, headers: [:], remoteAddress: nil)
    let session = engine.makeSession(
        request: request,
        admission: EngineServer.Admission(attachments: [:], reservation: SessionReservation(address: nil, identity: nil) { _, _ in }),
        transport: upgrading ? .polling : .websocket,
        webSocket: upgrading ? nil : output,
        eventLoop: loop
    )
    session.setHandlers(
        onMessage: { log.events.append(.message($0)) },
        onClose: { log.events.append(.sessionClosed($0)) }
    )
    if upgrading {
        session.opened()
        require(session.attachUpgradingWebSocket(output), "a new polling session refused the upgrade")
        handler.session = session
    } else {
        handler.session = session
        let (buffer, _) = EnginePacketCodec.encodeForWebSocket(engine.openPacket(for: session, transport: .websocket), allocator: channel.allocator)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
        session.opened()
    }
    return (channel, session)
}

/// NIO's decoder as a client has it, for what the server writes. One for all inputs: a check
/// that fails stops the run, so it never holds a partial frame from an earlier input.
nonisolated(unsafe) let clientDecoder = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))

/// Reads what the server wrote, as a client would.
func checkServerFrames(_ channel: EmbeddedChannel, log: EventLog) {
    var written = ByteBuffer()
    while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { written.writeImmutableBuffer(buffer) }
    let client = clientDecoder
    var closed = false
    var consumed = 0
    do {
        try client.writeInbound(written)
        while let frame = try client.readInbound(as: WebSocketFrame.self) {
            require(frame.maskKey == nil && frame.fin, "the server wrote a masked or unfinished frame: \(frame)")
            require(!closed || !frame.opcode.isData, "the server wrote a \(frame.opcode) frame after its Close, after \(log.events)")
            if frame.opcode == .connectionClose { closed = true }
            // Server frames have no mask and the shortest length form.
            consumed += 2 + (frame.length < 126 ? 0 : frame.length <= Int(UInt16.max) ? 2 : 8) + frame.length
        }
    } catch {
        require(false, "the server wrote bytes that are not WebSocket frames (\(error)): \(written), after \(log.events)")
    }
    require(consumed == written.readableBytes, "the server wrote a frame cut short: \(written), after \(log.events)")
}

extension WebSocketOpcode {
    var isData: Bool { self == .text || self == .binary || self == .continuation }
}

/// A frame as a client writes it: masked (RFC 6455 §5.3), the shortest length form.
func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
    var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
    if payload.count < 126 {
        frame.append(0x80 | UInt8(payload.count))
    } else {
        frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    }
    frame += mask
    frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    return frame
}

func text(_ string: String, fin: Bool = true) -> [UInt8] { clientFrame(0x1, Array(string.utf8), fin: fin) }

/// The Engine.IO frames of the tests (EnginePacketCodecTests, WebSocketFrameEncodingTests) as a
/// client sends them, after a mode byte: 0 a WebSocket session, 1 an upgrading polling session.
let seeds: [[UInt8]] = [
    [0] + text("4hello") + text("42[\"bid\",{\"amount\":10}]") + text("3"),
    [0] + clientFrame(0x2, [0, 0x1E, 0xFF, 0x34]) + text("4héllo €😀"),
    [1] + text("2probe") + text("5") + text("4after the upgrade"),
    [1] + text("2probe") + text("6"),
    [0] + text("4frag", fin: false) + clientFrame(0x0, Array("mented".utf8)),
    [0] + clientFrame(0x9, Array("ping".utf8)) + text("4x"),
    [0] + clientFrame(0x8, [0x03, 0xE8]) + text("4late"),
    [0] + text("1"),
    [0] + text(String(repeating: "4", count: 200)),
    [0] + clientFrame(0x1, Array(repeating: 0x34, count: maxPayload + 1)),
    [0] + [0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0x10, 0],
    [0] + clientFrame(0x9, [], fin: false),
    [2] + clientFrame(0x1, [0x34, 0xC3]) + text("4x"),
    [0] + clientFrame(0x3, []),
]
