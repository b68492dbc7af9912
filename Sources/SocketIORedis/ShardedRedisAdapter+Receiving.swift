import NIOCore
import RedisClient
import SocketIO

extension ShardedRedisAdapter {
    /// Everything on this namespace's channels: envelopes of other servers for this namespace.
    /// Malformed ones are logged and dropped.
    func receive(_ message: RedisPubSubMessage) {
        guard message.channel.hasPrefix(mainChannel) else { return }
        // A room no local socket is in any more (its unsubscribe may be on its way): skip it.
        if message.channel != mainChannel, message.channel != ownChannel {
            var room = String(message.channel.dropFirst(mainChannel.count))
            if room.hasSuffix("#") { room.removeLast() }
            if local.matchingSocketIDs(BroadcastOptions(rooms: [room])).isEmpty { return }
        }
        let envelope: JSONValue
        do {
            let bytes = message.payload.readableBytesView
            envelope = bytes.first == UInt8(ascii: "{") ? try JSONParser.parse(Array(bytes)) : try MessagePack.decode(message.payload)
        } catch {
            logger.warning("dropped a malformed message", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
            return
        }
        guard let code = envelope["type"]?.integerValue, let type = MessageType(rawValue: Int(code)) else {
            logger.warning("dropped a message without a known type", metadata: ["channel": "\(message.channel)"])
            return
        }
        guard envelope["uid"]?.stringValue != uid, envelope["nsp"]?.stringValue == namespace.name else { return }
        handle(type, envelope["data"] ?? .null, from: envelope["uid"]?.stringValue)
    }

    private func handle(_ type: MessageType, _ data: JSONValue, from sender: String?) {
        let requestID = data["requestId"]?.stringValue
        switch type {
        case .initialHeartbeat, .heartbeat, .adapterClose:
            return  // Only ClusterAdapterWithHeartbeat sends these; the Redis adapters do not.
        case .broadcast:
            guard let packet = Self.socketPacket(data["packet"], namespace: namespace.name) else { return }
            let options = WireFormat.broadcastOptions(data["opts"])
            guard let requestID, let sender else {
                local.broadcast(packet, options: options)
                return
            }
            var withID = packet
            withID.id = AckID.next()
            local.broadcastWithAck(
                withID,
                options: options,
                clientCount: { count in
                    self.respond(to: sender, .broadcastClientCount, ["requestId": .string(requestID), "clientCount": .number(Double(count))])
                },
                ack: { answer in
                    self.respond(to: sender, .broadcastAck, .object([
                        JSONMember(key: "requestId", value: .string(requestID)), JSONMember(key: "packet", value: answer),
                    ]))
                }
            )
        case .socketsJoin:
            joinNow(WireFormat.broadcastOptions(data["opts"]), rooms: WireFormat.roomNames(data["rooms"]))
        case .socketsLeave:
            leaveNow(WireFormat.broadcastOptions(data["opts"]), rooms: WireFormat.roomNames(data["rooms"]))
        case .disconnectSockets:
            local.disconnectNow(WireFormat.broadcastOptions(data["opts"]), close: data["close"]?.boolValue ?? false)
        case .fetchSockets:
            guard let requestID, let sender else { return }
            let options = WireFormat.broadcastOptions(data["opts"])
            let sockets = local.matchingSocketIDs(options).compactMap { namespace.socket(id: $0) }.map(WireFormat.socket)
            respond(to: sender, .fetchSocketsResponse, .object([
                JSONMember(key: "requestId", value: .string(requestID)), JSONMember(key: "sockets", value: .array(sockets)),
            ]))
        case .serverSideEmit:
            guard let args = data["packet"]?.arrayValue else { return }
            let namespace = self.namespace
            serverSideEvents.enqueue {
                let answer = await namespace.receiveServerSideEmit(args)
                if let requestID, let sender {
                    self.respond(to: sender, .serverSideEmitResponse, .object([
                        JSONMember(key: "requestId", value: .string(requestID)), JSONMember(key: "packet", value: answer ?? .null),
                    ]))
                }
            }
        case .fetchSocketsResponse:
            if let requestID { pending.answer(requestID, with: data["sockets"] ?? .array([])) }
        case .serverSideEmitResponse:
            if let requestID { pending.answer(requestID, with: data["packet"] ?? .null) }
        case .broadcastClientCount:
            if let requestID, let handlers = pending.broadcastHandlers(requestID) {
                handlers.clientCount(Int(data["clientCount"]?.integerValue ?? 0))
            }
        case .broadcastAck:
            if let requestID, let handlers = pending.broadcastHandlers(requestID) { handlers.ack(data["packet"] ?? .null) }
        }
    }

    /// Responses go to the requester's own channel only.
    private func respond(to requester: String, _ type: MessageType, _ data: JSONValue) {
        publish(type, data, to: mainChannel + requester + "#")
    }

    /// A packet of an envelope: `{type, data}`, its namespace the envelope's.
    static func socketPacket(_ value: JSONValue?, namespace: String) -> SocketIOPacket? {
        guard let value, value.isObject, let data = value["data"], data.arrayValue != nil else { return nil }
        return SocketIOPacket(type: .event, namespace: namespace, data: data)
    }
}
