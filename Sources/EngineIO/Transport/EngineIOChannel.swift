import Crypto
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// Hummingbird's HTTP/1 child channel with the Engine.IO endpoint in front of the application.
///
/// WebSocket upgrades are done here rather than by HummingbirdWebSocket so that a refused
/// handshake gets the Engine.IO answer (403 with `{"code":4,…}`) instead of a bare 400, and so an
/// idle WebSocket costs a channel and two handlers, not a task.
public struct EngineIOChannel: ServerChildChannel, HTTPChannelHandler {
    public enum UpgradeResult: Sendable {
        case websocket
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, EngineError, HTTPFields)
    }

    public struct Value: ServerChildChannelValue {
        let result: EventLoopFuture<UpgradeResult>
        public let channel: any Channel
    }

    /// What the upgrade check decided, handed from `shouldUpgrade` to the pipeline setup.
    private enum Verdict: Sendable {
        case undecided
        case refused(EngineError, HTTPFields)
        case newSession(EngineRequest, EngineServer.Admission, WebSocketDeflate?)
        case join(EngineSession, WebSocketDeflate?)
    }

    public let responder: HTTPChannelHandler.Responder
    let engine: EngineServer
    let http1: HTTP1Channel.Configuration

    public init(engine: EngineServer, responder: @escaping HTTPChannelHandler.Responder, http1: HTTP1Channel.Configuration = .init()) {
        self.engine = engine
        self.http1 = http1
        self.responder = { request, writer, channel in
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                // NIO's upgrader sees a connection's first request only; a later upgrade (what a
                // proxy with pooled connections sends) is done here, on the same connection.
                try await Self.upgradeReusedConnection(request, writer: writer, channel: channel, engine: engine)
                return
            }
            if engine.configuration.matches(path: request.uri.path) {
                try await engine.respond(to: request, writer: writer, channel: channel)
            } else {
                try await responder(request, writer, channel)
            }
        }
    }

    /// NIO keeps each connection's last receive buffer for the next read, sized by this
    /// allocator: its default starts at 2 KiB, which an idle WebSocket would hold for good.
    /// Reads of bigger requests grow it again.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.syncOptions?.setOption(ChannelOptions.recvAllocator, value: Self.receiveBuffers)
            let verdict = NIOLockedValueBox(Verdict.undecided)
            let engine = self.engine
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: engine.configuration.maxPayload,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let decided = await Self.check(head, channel: channel, engine: engine)
                        verdict.withLockedValue { $0 = decided.verdict }
                        return decided.headers
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.startWebSocket(channel, verdict: verdict.withLockedValue { $0 }, engine: engine)
                        return UpgradeResult.websocket
                    }
                }
            )
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(self.http1.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: self.http1.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger)
                        )
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .refused(let error, let headers) = verdict.withLockedValue({ $0 }) {
                            return UpgradeResult.refused(asyncChannel, error, headers)
                        }
                        return UpgradeResult.http(asyncChannel)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            // NIO's own error handler answers a bare 400 to everything; ours tells 431 from 400.
            let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(HTTPParseErrorResponder(), position: .after(decoder.handler))
            return Value(result: result, channel: channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.result.get() {
            case .websocket:
                // Event-driven from here on: EngineWebSocketHandler owns the channel.
                return
            case .http(let asyncChannel):
                await handleHTTP(asyncChannel: asyncChannel, logger: logger)
            case .refused(let asyncChannel, let error, let headers):
                try await asyncChannel.executeThenClose { _, outbound in
                    var fields = headers
                    fields[.connection] = "close"
                    fields[.contentType] = "application/json"
                    let body = ByteBuffer(string: error.body)
                    fields[.contentLength] = "\(body.readableBytes)"
                    try await outbound.write(contentsOf: [
                        .head(HTTPResponse(status: error.status, headerFields: fields)),
                        .body(body),
                        .end(nil),
                    ])
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Upgrade

    private static func check(
        _ head: HTTPRequestHead,
        channel: any Channel,
        engine: EngineServer
    ) async -> (verdict: Verdict, headers: HTTPHeaders?) {
        var fields = HTTPFields()
        // The request lives as long as its session: no growth slack.
        fields.reserveCapacity(head.headers.count)
        for (name, value) in head.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        let request = EngineRequest(method: .get, target: head.uri, headers: fields, remoteAddress: channel.remoteAddress)
        let decided = await check(request, channel: channel, engine: engine)
        return (decided.verdict, decided.headers.map(HTTPHeaders.init))
    }

    /// Whether an upgrade request may have its WebSocket: a new session, or the upgrade of an
    /// open one; with the headers of the 101. A refusal is reported as a connection error.
    private static func check(
        _ request: EngineRequest,
        channel: any Channel,
        engine: EngineServer
    ) async -> (verdict: Verdict, headers: HTTPFields?) {
        let decided = await decide(request, channel: channel, engine: engine)
        if case .refused(let error, _) = decided.verdict { engine.reportConnectionError(error, for: request) }
        return decided
    }

    private static func decide(
        _ request: EngineRequest,
        channel: any Channel,
        engine: EngineServer
    ) async -> (verdict: Verdict, headers: HTTPFields?) {
        // Other paths do not upgrade here; answering beats leaving the client waiting.
        guard engine.configuration.matches(path: request.path) else { return (.refused(.badRequest, [:]), nil) }
        var responseHeaders = engine.corsHeaders(for: request)
        if let extra = engine.configuration.headers?(request) { responseHeaders.append(contentsOf: extra) }

        if let error = engine.validate(request) { return (.refused(error, responseHeaders), nil) }
        guard request.transport == EngineTransport.websocket.rawValue else {
            return (.refused(.badRequest, responseHeaders), nil)
        }
        // permessage-deflate when the server allows it and the client offers it.
        let negotiated = engine.configuration.perMessageDeflate.flatMap {
            WebSocketDeflate.negotiate(request.headers[.secWebSocketExtensions], threshold: $0.threshold)
        }
        if let negotiated { responseHeaders[.secWebSocketExtensions] = negotiated.header }
        if let sid = request.sessionID {
            guard let session = engine.session(id: sid) else { return (.refused(.unknownSession, responseHeaders), nil) }
            if let error = await engine.authorize(request, for: session) { return (.refused(error, responseHeaders), nil) }
            // A session that already has its WebSocket gets the 101 and an immediate close,
            // as the reference server does, so clients see a closed socket rather than an error.
            return (.join(session, negotiated?.agreed), responseHeaders)
        }
        let admission: EngineServer.Admission
        switch await engine.admit(request) {
        case .success(let admitted): admission = admitted
        case .failure(let error): return (.refused(error, responseHeaders), nil)
        }
        // The slot is given back if the connection ends before the session exists.
        channel.closeFuture.whenComplete { _ in admission.reservation.releaseIfPending() }
        if let initial = await engine.configuration.initialHeaders?(request, admission.attachments) {
            responseHeaders.append(contentsOf: initial)
        }
        if let cookie = engine.configuration.cookie {
            responseHeaders.append(HTTPField(name: .setCookie, value: cookie.header(for: admission.id)))
        }
        return (.newSession(request, admission, negotiated?.agreed), responseHeaders)
    }

    /// The upgrade of a connection that has served requests before. The 101 goes out through
    /// the HTTP handlers, which then leave the pipeline; the WebSocket handlers take their place
    /// ahead of Hummingbird's, which see nothing more. The request's task waits for the
    /// connection to close, since Hummingbird closes the connection when it returns.
    static func upgradeReusedConnection(_ request: Request, writer: consuming ResponseWriter, channel: any Channel, engine: EngineServer) async throws {
        var fields = request.headers
        if let authority = request.head.authority, fields[EngineRequest.host] == nil {
            fields[EngineRequest.host] = authority
        }
        let engineRequest = EngineRequest(method: request.method, target: request.uri.description, headers: fields, remoteAddress: channel.remoteAddress)
        let decided: (verdict: Verdict, headers: HTTPFields?)
        if request.method == .get, request.headers[.secWebSocketVersion] == "13", let key = request.headers[.secWebSocketKey],
            !key.isEmpty
        {
            decided = await check(engineRequest, channel: channel, engine: engine)
            if var headers = decided.headers {
                headers[.upgrade] = "websocket"
                headers[.connection] = "Upgrade"
                headers[.secWebSocketAccept] = WebSocketAccept.value(forKey: key)
                try await writer.writeInformationalHead(HTTPResponse(status: .switchingProtocols, headerFields: headers))
                try await channel.eventLoop.submit {
                    try Self.leaveHTTP(channel, verdict: decided.verdict, engine: engine)
                }.get()
                try? await channel.closeFuture.get()
                return
            }
        } else {
            // What NIO's upgrader answers to a request it cannot upgrade.
            decided = (.refused(.badRequest, engine.corsHeaders(for: engineRequest)), nil)
            engine.reportConnectionError(.badRequest, for: engineRequest)
        }
        guard case .refused(let error, var headers) = decided.verdict else { return }
        headers[.connection] = "close"
        headers[.contentType] = "application/json"
        let body = ByteBuffer(string: error.body)
        headers[.contentLength] = "\(body.readableBytes)"
        try await writer.write(response: HTTPResponse(status: error.status, headerFields: headers), body: ResponseBody(byteBuffer: body))
        throw RefusedUpgrade()
    }

    /// Swaps the HTTP handlers of a connection for the WebSocket ones, on its event loop, after
    /// the 101 was written.
    private static func leaveHTTP(_ channel: any Channel, verdict: Verdict, engine: EngineServer) throws {
        let pipeline = channel.pipeline.syncOperations
        let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        // HTTPParseErrorResponder left on its own as the 101 went by.
        for type in [HTTPResponseEncoder.self, HTTP1ToHTTPServerCodec.self, HTTPConnectionStateHandler.self] as [any RemovableChannelHandler.Type] {
            try pipeline.removeHandler(pipeline.handler(type: type))
        }
        try startWebSocket(
            channel,
            verdict: verdict,
            engine: engine,
            frameHandlers: [
                WebSocketFrameEncoder(),
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: engine.configuration.maxPayload)),
                WebSocketProtocolErrorHandler(),
            ],
            position: .after(decoder)
        )
        // Last: what the client sent after the upgrade request goes on to the frame decoder.
        pipeline.removeHandler(decoder, promise: nil)
    }

    /// `frameHandlers`: the WebSocket frame encoder and decoder and what else comes before the
    /// aggregator when NIO's upgrader did not add them; `position` where the handlers go.
    private static func startWebSocket(
        _ channel: any Channel,
        verdict: Verdict,
        engine: EngineServer,
        frameHandlers: [any ChannelHandler] = [],
        position: ChannelPipeline.SynchronousOperations.Position = .last
    ) throws {
        let maxPayload = engine.configuration.maxPayload
        let deflate: WebSocketDeflate? =
            switch verdict {
            case .newSession(_, _, let agreed), .join(_, let agreed): agreed
            default: nil
            }
        let handler = EngineWebSocketHandler()
        handler.deflate = deflate
        handler.maxPayload = maxPayload
        let writer = EngineFrameWriter()
        try channel.pipeline.syncOperations.addHandler(writer, position: .first)
        let output = engine.writeQueues.output(for: channel, writer: writer, deflate: deflate)
        // NIO's aggregator drops RSV1, which marks a fragmented message compressed.
        let aggregator: any ChannelHandler =
            deflate == nil
            ? NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxPayload)
            : CompressedMessageAggregator(maxSize: maxPayload)
        try channel.pipeline.syncOperations.addHandlers(frameHandlers + [aggregator, handler], position: position)
        switch verdict {
        case .newSession(let request, let admission, _):
            let session = engine.makeSession(
                request: request,
                admission: admission,
                transport: .websocket,
                webSocket: output,
                eventLoop: channel.eventLoop
            )
            handler.session = session
            let (buffer, _) = EnginePacketCodec.encodeForWebSocket(engine.openPacket(for: session, transport: .websocket), allocator: channel.allocator)
            // From the handler's place: on a reused connection Hummingbird's handlers, which
            // take HTTP parts only, are still at the pipeline's end.
            try channel.pipeline.syncOperations.context(handler: handler)
                .writeAndFlush(NIOAny(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
            session.opened()
        case .join(let session, _):
            if session.attachUpgradingWebSocket(output) {
                handler.session = session
            } else {
                channel.close(promise: nil)
            }
        case .undecided, .refused:
            channel.close(promise: nil)
        }
    }
}

/// Ends a connection whose upgrade was refused, once the refusal is written.
struct RefusedUpgrade: Error {}

/// `Sec-WebSocket-Accept` (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and the GUID.
enum WebSocketAccept {
    static func value(forKey key: String) -> String {
        let digest = Insecure.SHA1.hash(data: Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
        return Data(digest).base64EncodedString()
    }
}

extension HTTPHeaders {
    init(_ fields: HTTPFields) {
        self.init(fields.map { ($0.name.canonicalName, $0.value) })
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with an Engine.IO endpoint (polling and WebSocket) mounted at the engine's path.
    public static func engineIO(_ engine: EngineServer, http1: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            EngineIOChannel(engine: engine, responder: responder, http1: http1)
        }
    }
}
