import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import EngineIO

/// The handler between NIO's HTTP/1 decoder and the rest of the pipeline, fed real bytes through
/// the real decoder and encoder, as EngineIOChannel sets them up.
@Suite("Answers to requests the HTTP parser refuses")
struct HTTPParseErrorResponderTests {
    /// Records how the channel was asked to close; a half-close stops here (EmbeddedChannel
    /// would close entirely), a full close goes on.
    private final class CloseRecorder: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var modes: [CloseMode] = []

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            modes.append(mode)
            if mode == .output {
                promise?.succeed(())
            } else {
                context.close(mode: mode, promise: promise)
            }
        }
    }

    private struct Connection {
        let channel: EmbeddedChannel
        let closes: CloseRecorder
        let decoder: ByteToMessageHandler<HTTPRequestDecoder>
        let encoder: HTTPResponseEncoder

        init(maxHeaderListSize: Int = 16 * 1024) throws {
            channel = EmbeddedChannel()
            closes = CloseRecorder()
            encoder = HTTPResponseEncoder()
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = maxHeaderListSize
            limits.maxHeaderListSize = maxHeaderListSize
            decoder = ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .drop, limitConfiguration: limits))
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(closes)
            try pipeline.addHandler(encoder)
            try pipeline.addHandler(decoder)
            try pipeline.addHandler(HTTPParseErrorResponder(linger: .seconds(2)))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        func send(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }

        /// Everything written to the socket so far.
        func written() throws -> String {
            var all = ByteBuffer()
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { all.writeImmutableBuffer(buffer) }
            return String(buffer: all)
        }

        /// The request parts that reached the application.
        func received() throws -> [HTTPServerRequestPart] {
            var parts: [HTTPServerRequestPart] = []
            while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
            return parts
        }

        /// Waits for a future of the embedded loop, running what it has scheduled.
        func settle(_ future: EventLoopFuture<Void>) throws {
            channel.embeddedEventLoop.run()
            try future.wait()
        }

        /// The application's answer to one request.
        func respond(_ status: HTTPResponseStatus = .ok, body: String = "ok") -> EventLoopFuture<Void> {
            let headers = HTTPHeaders([("Content-Length", "\(body.utf8.count)")])
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
            return channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        }
    }

    private static let malformedAnswer =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 85\r\n"
        + "Connection: close\r\nX-Content-Type-Options: nosniff\r\n\r\n"
        + #"{"error":{"code":"MALFORMED_REQUEST","message":"The request is not valid HTTP/1.1."}}"#

    @Test func headersOverTheDecodersLimitAre431ThenTheOutputIsShut() throws {
        let connection = try Connection(maxHeaderListSize: 1024)
        try connection.send("GET /healthz HTTP/1.1\r\nX-Big: \(String(repeating: "a", count: 2048))\r\n\r\n")
        let written = try connection.written()
        #expect(written.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "\(written)")
        #expect(written.contains("\r\nConnection: close\r\n"))
        #expect(written.hasSuffix(#"{"error":{"code":"HEADERS_TOO_LARGE","message":"The request headers are too large."}}"#))
        #expect(connection.closes.modes == [.output])
        #expect(try connection.received().isEmpty)
    }

    @Test func contentLengthWithTransferEncodingIs400() throws {
        let connection = try Connection()
        try connection.send("POST /items HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        #expect(try connection.written() == Self.malformedAnswer)
        #expect(try connection.received().isEmpty)
    }

    @Test func aGarbledRequestLineIs400() throws {
        let connection = try Connection()
        try connection.send("HELLO THERE\u{1}\r\n\r\n")
        #expect(try connection.written() == Self.malformedAnswer)
    }

    @Test func theConnectionClosesWhenTheLingerTimeIsOver() throws {
        let connection = try Connection()
        try connection.send("HELLO\u{1}\r\n\r\n")
        // What the client still sends meanwhile is read and dropped.
        try connection.send("more bytes")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!connection.channel.isActive)
        #expect(connection.closes.modes == [.output, .all])
    }

    @Test func aMalformedRequestBehindAnUnansweredOneIsAnsweredAfterIt() throws {
        let connection = try Connection()
        try connection.send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nBad Header\r\n\r\n")
        #expect(try connection.received().count == 2)
        #expect(try connection.written().isEmpty)
        try connection.respond().wait()
        let written = try connection.written()
        #expect(written == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + Self.malformedAnswer)
    }

    @Test func aRequestWhoseBodyFailsToParseIsAnsweredAtOnce() throws {
        let connection = try Connection()
        try connection.send("POST /items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(try connection.written() == Self.malformedAnswer)
    }

    @Test func theApplicationsResponseAfterTheAnswerIsRefused() throws {
        let connection = try Connection()
        try connection.send("POST /items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        _ = try connection.written()
        #expect(throws: ChannelError.outputClosed) { try connection.respond().wait() }
        #expect(try connection.written().isEmpty)
    }

    @Test func aBadBodyUnderAResponseAlreadyBegunClosesWithoutAnAnswer() throws {
        let connection = try Connection()
        try connection.send("POST /items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        connection.channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)), promise: nil)
        _ = try connection.written()
        try connection.send("zz\r\n")
        #expect(try connection.written().isEmpty)
        #expect(!connection.channel.isActive)
    }

    @Test func wellFormedRequestsPassUntouched() throws {
        let connection = try Connection()
        try connection.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.received().count == 2)
        try connection.respond().wait()
        try connection.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.received().count == 2)
        #expect(connection.closes.modes.isEmpty)
    }

    /// As NIO's upgrader does it: the decoder leaves (handing on the bytes behind the upgrade
    /// request), the 101 goes out, the encoder leaves; then WebSocket bytes flow both ways.
    @Test func afterTheSwitchingProtocolsResponseBytesFlowBothWays() throws {
        let connection = try Connection()
        let frame: [UInt8] = [0x81, 0x80, 1, 2, 3, 4]
        var request = ByteBuffer(string: "GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        request.writeBytes(frame)
        try connection.channel.writeInbound(request)
        #expect(try connection.received().count == 2)
        try connection.settle(connection.channel.pipeline.syncOperations.removeHandler(connection.decoder))
        #expect(try connection.channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: frame))
        try connection.settle(connection.channel.writeAndFlush(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols))))
        #expect(try connection.written().hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(throws: (any Error).self) { try connection.channel.pipeline.syncOperations.context(handlerType: HTTPParseErrorResponder.self) }
        try connection.settle(connection.channel.pipeline.syncOperations.removeHandler(connection.encoder))
        try connection.settle(connection.channel.writeAndFlush(ByteBuffer(bytes: frame)))
        #expect(try connection.channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: frame))
        try connection.channel.writeInbound(ByteBuffer(bytes: frame))
        #expect(try connection.channel.readInbound(as: ByteBuffer.self) == ByteBuffer(bytes: frame))
    }

    @Test func otherErrorsGoOn() throws {
        let connection = try Connection()
        connection.channel.pipeline.fireErrorCaught(ChannelError.connectTimeout(.seconds(1)))
        #expect(throws: ChannelError.connectTimeout(.seconds(1))) { try connection.channel.throwIfErrorCaught() }
    }
}
