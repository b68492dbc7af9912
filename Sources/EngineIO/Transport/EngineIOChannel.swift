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
        case newSession(EngineRequest, EngineServer.Admission)
        case join(EngineSession)
    }

    public let responder: HTTPChannelHandler.Responder
    let engine: EngineServer
    let http1: HTTP1Channel.Configuration

    public init(engine: EngineServer, responder: @escaping HTTPChannelHandler.Responder, http1: HTTP1Channel.Configuration = .init()) {
        self.engine = engine
        self.http1 = http1
        self.responder = { request, writer, channel in
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                // NIO upgrades only on a connection's first request. A client that reuses a
                // keep-alive connection for the upgrade is sent to a fresh one.
                try await writer.writeResponse(
                    HTTPResponse(status: .temporaryRedirect, headerFields: [.location: request.uri.description, .connection: "close", .contentLength: "0"])
                )
                throw UpgradeOnReusedConnection()
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
        // Other paths do not upgrade here; answering beats leaving the client waiting.
        guard engine.configuration.matches(path: request.path) else { return (.refused(.badRequest, [:]), nil) }
        var responseHeaders = engine.corsHeaders(for: request)
        if let extra = engine.configuration.headers?(request) { responseHeaders.append(contentsOf: extra) }

        if let error = engine.validate(request) { return (.refused(error, responseHeaders), nil) }
        guard request.transport == EngineTransport.websocket.rawValue else {
            return (.refused(.badRequest, responseHeaders), nil)
        }
        if let sid = request.sessionID {
            guard let session = engine.session(id: sid) else { return (.refused(.unknownSession, responseHeaders), nil) }
            if let error = await engine.authorize(request, for: session) { return (.refused(error, responseHeaders), nil) }
            // A session that already has its WebSocket gets the 101 and an immediate close,
            // as the reference server does, so clients see a closed socket rather than an error.
            return (.join(session), HTTPHeaders(responseHeaders))
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
        return (.newSession(request, admission), HTTPHeaders(responseHeaders))
    }

    private static func startWebSocket(_ channel: any Channel, verdict: Verdict, engine: EngineServer) throws {
        let maxPayload = engine.configuration.maxPayload
        let handler = EngineWebSocketHandler()
        let writer = EngineFrameWriter()
        try channel.pipeline.syncOperations.addHandler(writer, position: .first)
        let output = engine.writeQueues.output(for: channel, writer: writer)
        try channel.pipeline.syncOperations.addHandler(
            NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxPayload)
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        switch verdict {
        case .newSession(let request, let admission):
            let session = engine.makeSession(
                request: request,
                admission: admission,
                transport: .websocket,
                webSocket: output,
                eventLoop: channel.eventLoop
            )
            handler.session = session
            let (buffer, _) = EnginePacketCodec.encodeForWebSocket(engine.openPacket(for: session, transport: .websocket), allocator: channel.allocator)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
            session.opened()
        case .join(let session):
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

/// Ends the connection after the redirect of an upgrade on a reused connection.
struct UpgradeOnReusedConnection: Error {}

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
