import HTTPTypes
import HummingbirdCore
import NIOCore

extension EngineServer {
    /// Answers one HTTP request under the Engine.IO path (polling, preflight, or a bad request).
    func respond(to request: Request, writer: consuming ResponseWriter, channel: any Channel) async throws {
        // HTTPTypes keeps Host as the `:authority` pseudo-header; applications expect the header.
        var fields = request.headers
        if let authority = request.head.authority, fields[EngineRequest.host] == nil {
            fields[EngineRequest.host] = authority
        }
        let engineRequest = EngineRequest(
            method: request.method,
            target: request.uri.description,
            headers: fields,
            remoteAddress: channel.remoteAddress
        )
        var headers = corsHeaders(for: engineRequest)
        if let extra = configuration.headers?(engineRequest) { headers.append(contentsOf: extra) }

        if request.method == .options {
            preflightHeaders(for: engineRequest, into: &headers)
            headers[.contentLength] = "0"
            try await writer.writeResponse(HTTPResponse(status: .noContent, headerFields: headers))
            return
        }

        var (status, body, contentType) = await answer(request, engineRequest, &headers, channel: channel)
        headers[.contentType] = contentType
        if status == .ok, request.method == .get, engineRequest.sessionID != nil, let options = configuration.httpCompression,
            body.readableBytes >= options.threshold, let accepted = request.headers[.acceptEncoding],
            let coding = ContentCoding.preferred(by: accepted), let compressed = coding.compress(body)
        {
            body = compressed
            headers[.contentEncoding] = coding.rawValue
            headers[.vary] = headers[.vary].map { $0 + ", Accept-Encoding" } ?? "Accept-Encoding"
        }
        headers[.contentLength] = "\(body.readableBytes)"
        var buffer = channel.allocator.buffer(capacity: body.readableBytes)
        buffer.writeImmutableBuffer(body)
        try await writer.write(
            response: HTTPResponse(status: status, headerFields: headers),
            body: ResponseBody(byteBuffer: buffer)
        )
    }

    private func answer(
        _ request: Request,
        _ engineRequest: EngineRequest,
        _ headers: inout HTTPFields,
        channel: any Channel
    ) async -> (HTTPResponse.Status, ByteBuffer, String) {
        /// Refusals of the request itself, reported as Node's `connection_error`.
        func failure(_ error: EngineError) -> (HTTPResponse.Status, ByteBuffer, String) {
            reportConnectionError(error, for: engineRequest)
            return (error.status, ByteBuffer(string: error.body), "application/json")
        }
        /// Errors of a session's own traffic (overlapping polls, a bad POST): no report.
        func sessionFailure(_ error: EngineError) -> (HTTPResponse.Status, ByteBuffer, String) {
            (error.status, ByteBuffer(string: error.body), "application/json")
        }
        if let error = validate(engineRequest) { return failure(error) }
        // A GET asking for the WebSocket transport without an Upgrade header.
        guard engineRequest.transport == EngineTransport.polling.rawValue else { return failure(.badRequest) }

        guard let sid = engineRequest.sessionID else {
            guard request.method == .get else { return failure(.badHandshakeMethod) }
            let admission: Admission
            switch await admit(engineRequest) {
            case .success(let admitted): admission = admitted
            case .failure(let error): return failure(error)
            }
            let session = makeSession(
                request: engineRequest,
                admission: admission,
                transport: .polling,
                webSocket: nil,
                eventLoop: channel.eventLoop
            )
            if let initial = await configuration.initialHeaders?(engineRequest, admission.attachments) {
                headers.append(contentsOf: initial)
            }
            if let cookie = configuration.cookie { headers.append(HTTPField(name: .setCookie, value: cookie.header(for: session.id))) }
            let open = EnginePacketCodec.encodePayload([openPacket(for: session, transport: .polling)], allocator: channel.allocator)
            session.opened()
            return (.ok, open, "text/plain; charset=UTF-8")
        }

        guard let session = session(id: sid) else { return failure(.unknownSession) }
        if let error = await authorize(engineRequest, for: session) { return failure(error) }
        switch request.method {
        case .get:
            switch await session.poll() {
            case .packets(let packets):
                return (.ok, EnginePacketCodec.encodePayload(packets, allocator: channel.allocator), "text/plain; charset=UTF-8")
            case .error(let error):
                return sessionFailure(error)
            }
        case .post:
            // The POST counts as active from its first byte, so a second one overlapping it is
            // refused even while this body is still arriving.
            if let error = session.beginPost() { return sessionFailure(error) }
            let bytes: ByteBuffer?
            do {
                bytes = try await request.body.collect(upTo: configuration.maxPayload)
            } catch {
                bytes = nil
            }
            if bytes == nil {
                _ = session.finishPost(nil)
                return (.contentTooLarge, ByteBuffer(string: EngineError.badRequest.body), "application/json")
            }
            if let error = session.finishPost(bytes) { return sessionFailure(error) }
            return (.ok, ByteBuffer(string: "ok"), "text/html")
        default:
            return failure(.badRequest)
        }
    }

    func corsHeaders(for request: EngineRequest) -> HTTPFields {
        var headers = HTTPFields()
        guard let cors = configuration.cors else { return headers }
        switch cors.origins {
        case .any:
            headers[.accessControlAllowOrigin] = "*"
        case .list(let allowed):
            if let origin = request.origin, allowed.contains(origin) {
                headers[.accessControlAllowOrigin] = origin
                if cors.credentials { headers[.accessControlAllowCredentials] = "true" }
            }
            headers[.vary] = "Origin"
        }
        if !cors.exposedHeaders.isEmpty, headers[.accessControlAllowOrigin] != nil {
            headers[.accessControlExposeHeaders] = cors.exposedHeaders.joined(separator: ", ")
        }
        return headers
    }

    /// What a CORS preflight adds to ``corsHeaders(for:)``.
    func preflightHeaders(for request: EngineRequest, into headers: inout HTTPFields) {
        let cors = configuration.cors
        if let allowed = cors?.allowedHeaders {
            if !allowed.isEmpty { headers[.accessControlAllowHeaders] = allowed.joined(separator: ", ") }
        } else if let requested = request.headers[.accessControlRequestHeaders] {
            headers[.accessControlAllowHeaders] = requested
        }
        headers[.accessControlAllowMethods] = (cors?.methods ?? ["GET", "POST", "OPTIONS"]).joined(separator: ", ")
        if let maxAge = cors?.maxAge { headers[.accessControlMaxAge] = "\(maxAge.components.seconds)" }
    }

    /// Tells the application of a refused request (``EngineConfiguration/onConnectionError``).
    func reportConnectionError(_ error: EngineError, for request: EngineRequest) {
        configuration.onConnectionError?(EngineConnectionError(request: request, error: error))
    }
}
