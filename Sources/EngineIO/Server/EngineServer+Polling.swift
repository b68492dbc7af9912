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
            if let requested = request.headers[.accessControlRequestHeaders] {
                headers[.accessControlAllowHeaders] = requested
            }
            headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            headers[.contentLength] = "0"
            try await writer.writeResponse(HTTPResponse(status: .noContent, headerFields: headers))
            return
        }

        let (status, body, contentType) = await answer(request, engineRequest, &headers, channel: channel)
        headers[.contentType] = contentType
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
        func failure(_ error: EngineError) -> (HTTPResponse.Status, ByteBuffer, String) {
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
                return failure(error)
            }
        case .post:
            // The POST counts as active from its first byte, so a second one overlapping it is
            // refused even while this body is still arriving.
            if let error = session.beginPost() { return failure(error) }
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
            if let error = session.finishPost(bytes) { return failure(error) }
            return (.ok, ByteBuffer(string: "ok"), "text/html")
        default:
            return failure(.badRequest)
        }
    }

    func corsHeaders(for request: EngineRequest) -> HTTPFields {
        var headers = HTTPFields()
        switch configuration.cors {
        case nil:
            break
        case .anyOrigin:
            headers[.accessControlAllowOrigin] = "*"
        case .origins(let allowed):
            if let origin = request.origin, allowed.contains(origin) {
                headers[.accessControlAllowOrigin] = origin
                headers[.accessControlAllowCredentials] = "true"
            }
            headers[.vary] = "Origin"
        }
        return headers
    }
}
