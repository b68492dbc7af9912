import NIOCore
import RedisClient
import SocketIO

extension RedisAdapter {
    /// Everything this namespace's channels carry. Malformed messages are logged and dropped.
    func receive(_ message: RedisPubSubMessage) {
        if message.pattern == channels.pattern {
            guard message.channel.hasPrefix(channels.broadcast) else { return }
            receiveBroadcast(message)
        } else if message.channel == channels.request {
            guard let value = decode(message.payload, channel: message.channel) else { return }
            handleRequest(value)
        } else if message.channel == channels.response || message.channel == channels.ownResponse {
            guard let value = decode(message.payload, channel: message.channel) else { return }
            handleResponse(value)
        }
    }

    /// Requests and responses are JSON when they start with `{`, msgpack otherwise.
    private func decode(_ payload: ByteBuffer, channel: String) -> JSONValue? {
        do {
            if payload.readableBytesView.first == UInt8(ascii: "{") {
                return try JSONParser.parse(Array(payload.readableBytesView))
            }
            return try MessagePack.decode(payload)
        } catch {
            logger.warning("dropped a malformed message", metadata: ["channel": "\(channel)", "error": "\(error)"])
            return nil
        }
    }

    private func receiveBroadcast(_ message: RedisPubSubMessage) {
        var room = String(message.channel.dropFirst(channels.broadcast.count))
        if room.hasSuffix("#") { room.removeLast() }
        // A room no local socket is in: nothing to deliver, no need to decode.
        if !room.isEmpty, local.matchingSocketIDs(BroadcastOptions(rooms: [room])).isEmpty { return }
        let decoded: JSONValue
        do {
            decoded = try MessagePack.decode(message.payload)
        } catch {
            logger.warning("dropped a malformed broadcast", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
            return
        }
        guard let parts = decoded.arrayValue, parts.count >= 2 else {
            logger.warning("dropped a broadcast that is not [uid, packet, opts]", metadata: ["channel": "\(message.channel)"])
            return
        }
        if parts[0].stringValue == uid { return }
        guard let packet = WireFormat.socketPacket(parts[1], namespace: namespace.name) else { return }
        local.broadcast(packet, options: WireFormat.broadcastOptions(parts.count > 2 ? parts[2] : nil))
    }

    private func handleRequest(_ request: JSONValue) {
        guard let code = request["type"]?.integerValue, let type = RequestType(rawValue: Int(code)) else { return }
        let requestID = request["requestId"]?.stringValue
        let fromSelf = request["uid"]?.stringValue == uid
        switch type {
        case .sockets:
            guard let requestID else { return }
            let ids = local.matchingSocketIDs(BroadcastOptions(rooms: WireFormat.roomNames(request["rooms"])))
            respondJSON(["requestId": .string(requestID), "sockets": .array(ids.sorted().map { .string($0) })])
        case .allRooms:
            guard let requestID, !pending.contains(requestID) else { return }
            respondJSON(["requestId": .string(requestID), "rooms": .array(local.allRooms.sorted().map { .string($0) })])
        case .remoteJoin, .remoteLeave, .remoteDisconnect:
            if request["opts"] != nil {
                // This server applied its own requests already when it sent them.
                guard !fromSelf else { return }
                applyRoomChange(type, request)
            } else {
                applyLegacyRoomChange(type, request, requestID: requestID)
            }
        case .remoteFetch:
            guard let requestID, !pending.contains(requestID) else { return }
            let options = WireFormat.broadcastOptions(request["opts"])
            let sockets = local.matchingSocketIDs(options).compactMap { namespace.socket(id: $0) }.map(WireFormat.socket)
            respondJSON(["requestId": .string(requestID), "sockets": .array(sockets)])
        case .serverSideEmit:
            guard !fromSelf, let data = request["data"]?.arrayValue else { return }
            let namespace = self.namespace
            // Handlers are async; the queue runs them one at a time in arrival order.
            serverSideEvents.enqueue {
                let answer = await namespace.receiveServerSideEmit(data)
                if let requestID {
                    self.respondJSON(["type": 6, "requestId": .string(requestID), "data": answer ?? .null])
                }
            }
        case .broadcast:
            guard let requestID, !pending.contains(requestID),
                var packet = WireFormat.socketPacket(request["packet"], namespace: namespace.name)
            else { return }
            packet.id = AckID.next()
            let options = WireFormat.broadcastOptions(request["opts"])
            local.broadcastWithAck(
                packet,
                options: options,
                clientCount: { count in
                    self.respondJSON(["type": 8, "requestId": .string(requestID), "clientCount": .number(Double(count))])
                },
                ack: { response in
                    self.publishMessagePack(
                        .object([
                            JSONMember(key: "type", value: 9),
                            JSONMember(key: "requestId", value: .string(requestID)),
                            JSONMember(key: "packet", value: response),
                        ]),
                        to: self.channels.response
                    )
                }
            )
        case .broadcastClientCount, .broadcastAck:
            return
        }
    }

    /// Applied at once, so a join followed by a broadcast to the joined room is delivered.
    private func applyRoomChange(_ type: RequestType, _ request: JSONValue) {
        let options = WireFormat.broadcastOptions(request["opts"])
        let rooms = WireFormat.roomNames(request["rooms"])
        switch type {
        case .remoteJoin: local.joinNow(options, rooms: rooms)
        case .remoteLeave: local.leaveNow(options, rooms: rooms)
        default: local.disconnectNow(options, close: request["close"]?.boolValue ?? false)
        }
    }

    /// The form of adapters ≤ 7: one socket by id, answered by the server that has it.
    private func applyLegacyRoomChange(_ type: RequestType, _ request: JSONValue, requestID: String?) {
        guard let sid = request["sid"]?.stringValue, let socket = namespace.socket(id: sid) else { return }
        switch type {
        case .remoteJoin: if let room = request["room"]?.stringValue { socket.join(room) }
        case .remoteLeave: if let room = request["room"]?.stringValue { socket.leave(room) }
        default: socket.disconnect(close: request["close"]?.boolValue ?? false)
        }
        if let requestID { respondJSON(["requestId": .string(requestID)]) }
    }

    private func handleResponse(_ response: JSONValue) {
        guard let requestID = response["requestId"]?.stringValue else { return }
        if let handlers = pending.broadcastHandlers(requestID) {
            switch response["type"]?.integerValue {
            case 8: handlers.clientCount(Int(response["clientCount"]?.integerValue ?? 0))
            case 9: handlers.ack(response["packet"] ?? .null)
            default: break
            }
            return
        }
        if let sockets = response["sockets"] {
            pending.answer(requestID, with: sockets)
        } else if let rooms = response["rooms"] {
            pending.answer(requestID, with: rooms)
        } else if response["type"]?.integerValue == Int64(RequestType.serverSideEmit.rawValue) {
            pending.answer(requestID, with: response["data"] ?? .null)
        }
    }

    /// Responses go to the shared response channel, as Node's default does.
    private func respondJSON(_ value: JSONValue) {
        publishJSON(value, to: channels.response)
    }
}
