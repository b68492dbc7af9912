import NIOCore
import NIOHTTP1
import NIOPosix
import SocketIO

/// One JSON request per TCP connection over HTTP/1.1: enough for the few REST calls a scenario
/// makes before its sockets open. No pooling, no TLS, no redirects; every request has a deadline.
struct JSONHTTPClient: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        /// Nil when the body is empty or not JSON.
        var json: JSONValue?
        var text: String

        /// `error.code` of the contract's error body.
        var errorCode: String? { json?["error"]?["code"]?.stringValue }
    }

    enum Failure: Error, CustomStringConvertible {
        case timedOut(String)
        case closedBeforeResponse(String)

        var description: String {
            switch self {
            case .timedOut(let request): "\(request): no response in time"
            case .closedBeforeResponse(let request): "\(request): connection closed before the response was complete"
            }
        }
    }

    let eventLoop: EventLoop
    var timeout: TimeAmount = .seconds(30)

    /// Sends `method path` to `address` with `json` as the body. `source` binds the client side of
    /// the connection to that local address (servers that limit per client address see it).
    func send(
        _ method: HTTPMethod,
        _ path: String,
        to address: ServerAddress,
        json: JSONValue? = nil,
        bearer: String? = nil,
        from source: String? = nil
    ) async throws -> Response {
        let label = "\(method) \(path)"
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.hostHeader)
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Connection", value: "close")
        if let bearer { headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(string: json.jsonText)
            headers.add(name: "Content-Type", value: "application/json")
        }
        headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)

        let response = eventLoop.makePromise(of: Response.self)
        let deadline = eventLoop.scheduleTask(in: timeout) { response.fail(Failure.timedOut(label)) }
        response.futureResult.whenComplete { _ in deadline.cancel() }

        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { [body] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        ResponseCollector(request: head, body: body, label: label, response: response)
                    )
                }
            }
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            response.fail(error)
            throw error
        }
        response.futureResult.whenComplete { _ in channel.close(promise: nil) }
        return try await response.futureResult.get()
    }
}

/// Writes the request once connected and gathers the response.
private final class ResponseCollector: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let body: ByteBuffer?
    private let label: String
    private let response: EventLoopPromise<JSONHTTPClient.Response>
    private var head: HTTPResponseHead?
    private var collected = ByteBuffer()

    init(request: HTTPRequestHead, body: ByteBuffer?, label: String, response: EventLoopPromise<JSONHTTPClient.Response>) {
        self.request = request
        self.body = body
        self.label = label
        self.response = response
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var chunk):
            collected.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            let text = String(buffer: collected)
            let json = text.isEmpty ? nil : try? JSONParser.parse(text)
            response.succeed(JSONHTTPClient.Response(status: head.status, headers: head.headers, json: json, text: text))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        response.fail(JSONHTTPClient.Failure.closedBeforeResponse(label))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        response.fail(error)
        context.close(promise: nil)
    }
}
