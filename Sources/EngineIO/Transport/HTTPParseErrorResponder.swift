import NIOCore
import NIOHTTP1

/// Answers a request that NIO's HTTP/1 decoder refuses, instead of dropping the connection:
/// `431` when the headers exceed the decoder's limits, `400` for every other parse error (both
/// `Content-Length` and `Transfer-Encoding`, a garbled request line, a bad chunk size…). The
/// answer carries `Connection: close` and a JSON error body in the REST API's shape, then the
/// connection is closed.
///
/// It sits right after the request decoder, so it sees the decoder's errors first and the
/// response parts on their way to the encoder. Choices:
/// - A malformed request behind others not yet answered is answered after them: the answer
///   never lands inside another response. A request whose own body fails to parse is answered
///   at once (the application would wait for the rest of it), unless its response has already
///   begun: then the connection is closed without an answer.
/// - After the answer, the output is shut and whatever the client still sends is read and
///   dropped for `linger`, so a client in the middle of sending a huge header reads the answer
///   instead of a connection reset; then the connection is closed.
/// - A `101 Switching Protocols` passing by removes the handler once it is flushed: from then
///   on the bytes are WebSocket frames, which flow past no HTTP handler. Request parts are not
///   looked at after a request that may upgrade, since NIO's decoder then hands on raw bytes.
final class HTTPParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What was wrong with the request, as the client is told.
    enum Failure: Equatable, Sendable {
        case headersTooLarge
        case malformed

        init(_ error: HTTPParserError) {
            self = error == .headerOverflow ? .headersTooLarge : .malformed
        }

        var status: HTTPResponseStatus {
            switch self {
            case .headersTooLarge: .requestHeaderFieldsTooLarge
            case .malformed: .badRequest
            }
        }

        /// The exact body the client receives.
        var body: String {
            switch self {
            case .headersTooLarge:
                #"{"error":{"code":"HEADERS_TOO_LARGE","message":"The request headers are too large."}}"#
            case .malformed:
                #"{"error":{"code":"MALFORMED_REQUEST","message":"The request is not valid HTTP/1.1."}}"#
            }
        }
    }

    /// What the handler knows of the exchange in progress.
    private struct Exchange {
        /// Requests whose head came in and whose response has not ended.
        var unanswered = 0
        /// A request's head came in, its end has not: a parse error is in that request.
        var receivingRequest = false
        /// A response's head went out, its end has not.
        var responding = false
        /// Request parts are no longer looked at: after an upgrade request the decoder stops
        /// parsing and may hand on the raw bytes that followed it.
        var passingThrough = false
        /// The parse error to answer once the requests before it are answered.
        var pending: Failure?
        /// The answer is written; nothing else leaves.
        var answered = false
        /// A `101` went out: what follows is no longer HTTP.
        var upgraded = false
    }

    private var exchange = Exchange()
    private let linger: TimeAmount

    init(linger: TimeAmount = .seconds(2)) {
        self.linger = linger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !exchange.passingThrough {
            switch unwrapInboundIn(data) {
            case .head(let head):
                exchange.unanswered += 1
                exchange.receivingRequest = true
                exchange.passingThrough = Self.mayUpgrade(head)
            case .body:
                break
            case .end:
                exchange.receivingRequest = false
            }
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case let error as HTTPParserError:
            parseFailed(Failure(error), context: context)
        case ByteToMessageDecoderError.dataReceivedInErrorState:
            // Bytes after the parse error: the connection is already being answered and closed.
            break
        default:
            context.fireErrorCaught(error)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !exchange.upgraded else {
            context.write(data, promise: promise)
            return
        }
        guard !exchange.answered else {
            // The application answering a request after our answer: it must not follow it.
            promise?.fail(ChannelError.outputClosed)
            return
        }
        let part = unwrapOutboundIn(data)
        context.write(data, promise: promise)
        switch part {
        case .head(let head) where head.status == .switchingProtocols:
            // Leaves at the flush that sends it: removed within a write, the flush of a
            // writeAndFlush would be lost with it.
            exchange.upgraded = true
        case .head(let head) where head.status.code < 200:
            // Other interim responses (100 Continue) come before the real head.
            break
        case .head:
            exchange.responding = true
        case .body:
            break
        case .end:
            exchange.responding = false
            exchange.unanswered = max(0, exchange.unanswered - 1)
            if let failure = exchange.pending, exchange.unanswered == 0 {
                answer(failure, context: context)
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if exchange.upgraded {
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func parseFailed(_ failure: Failure, context: ChannelHandlerContext) {
        guard !exchange.answered, exchange.pending == nil else { return }
        if exchange.receivingRequest {
            // The application would wait for the rest of this request for ever: answer now,
            // unless its response is already under way, which an answer would corrupt.
            if exchange.responding {
                exchange.answered = true
                context.close(promise: nil)
            } else {
                answer(failure, context: context)
            }
        } else if exchange.unanswered > 0 {
            exchange.pending = failure
        } else {
            answer(failure, context: context)
        }
    }

    /// Whether NIO's decoder may take this request for an upgrade (then it parses nothing
    /// after it). Broader than llhttp's rule on purpose: a false "yes" only stops the tracking.
    static func mayUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method == .CONNECT || head.headers.contains(name: "upgrade")
            || head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
    }

    private func answer(_ failure: Failure, context: ChannelHandlerContext) {
        exchange.answered = true
        let body = context.channel.allocator.buffer(string: failure.body)
        let headers = HTTPHeaders([
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", "\(body.readableBytes)"),
            ("Connection", "close"),
            ("X-Content-Type-Options", "nosniff"),
        ])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: failure.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let linger = self.linger
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            let closed = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: closed)
            // A channel that cannot half-close is closed at once.
            closed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
            context.eventLoop.assumeIsolated().scheduleTask(in: linger) { context.close(promise: nil) }
        }
    }
}
