import Logging
import NIOCore
import RedisClient
import SocketIO

/// The message types of Node's `ClusterAdapter` (socket.io-adapter), which the sharded adapter
/// and the streams adapter both speak.
enum ClusterMessageType: Int {
    case initialHeartbeat = 1, heartbeat, broadcast, socketsJoin, socketsLeave, disconnectSockets, fetchSockets
    case fetchSocketsResponse, serverSideEmit, serverSideEmitResponse, broadcastClientCount, broadcastAck, adapterClose
}

/// What an adapter needs to act on the `ClusterAdapter` messages of other servers: its local
/// sockets, its pending requests, and a way to answer a requester.
protocol ClusterMessageHandling: AnyObject, Sendable {
    var namespace: Namespace { get }
    var uid: String { get }
    var logger: Logger { get }
    var local: InMemoryAdapter { get }
    var pending: PendingRequests { get }
    var serverSideEvents: SerialMailbox { get }
    var requestsTimeout: Duration { get }
    /// Publishes a request to every server of the namespace (its main channel).
    func publishRequest(_ type: ClusterMessageType, _ data: JSONValue)
    func serverCount() async -> Int
    /// Sends a response to the requester's own channel.
    func respond(to requester: String, _ type: ClusterMessageType, _ data: JSONValue)
    /// Room changes for matching local sockets (through the adapter, so its subscriptions follow).
    func joinNow(_ options: BroadcastOptions, rooms: Set<String>)
    func leaveNow(_ options: BroadcastOptions, rooms: Set<String>)
}

extension ClusterMessageHandling {
    // MARK: Requests

    /// A broadcast with acks: published with a request id (without the packet's own ack id) for
    /// the other servers, which answer with their client counts and acks; delivered here too.
    func clusterBroadcastWithAck(
        _ packet: SocketIOPacket,
        options: BroadcastOptions,
        clientCount: @escaping @Sendable (Int) -> Void,
        ack: @escaping @Sendable (JSONValue) -> Void
    ) {
        if !options.flags.local {
            let requestID = ShardedRedisAdapter.randomHex()
            pending.add(requestID, .broadcastAck(clientCount: clientCount, ack: ack), expiresIn: options.flags.timeout ?? .seconds(10))
            var withoutID = packet
            withoutID.id = nil
            publishRequest(.broadcast, .object([
                JSONMember(key: "packet", value: ShardedRedisAdapter.packet(withoutID)),
                JSONMember(key: "requestId", value: .string(requestID)),
                JSONMember(key: "opts", value: WireFormat.options(options, includeTimeout: true)),
            ]))
        }
        local.broadcastWithAck(packet, options: options, clientCount: clientCount, ack: ack)
    }

    func clusterFetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor] {
        let mine = await local.fetchSockets(options)
        guard !options.flags.local else { return mine }
        let others = await serverCount() - 1
        guard others > 0 else { return mine }
        let requestID = ShardedRedisAdapter.randomHex()
        let data: JSONValue = .object([
            JSONMember(key: "opts", value: WireFormat.options(options)),
            JSONMember(key: "requestId", value: .string(requestID)),
        ])
        let answers = await pending.collect(requestID, expected: others, timeout: requestsTimeout) {
            self.publishRequest(.fetchSockets, data)
        }
        return mine + answers.flatMap { $0.arrayValue ?? [] }.compactMap(WireFormat.descriptor)
    }

    func clusterServerSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks {
        let others = await serverCount() - 1
        guard others > 0 else { return BroadcastAcks(responses: [], complete: true) }
        let requestID = ShardedRedisAdapter.randomHex()
        let data: JSONValue = .object([
            JSONMember(key: "packet", value: .array(args)),
            JSONMember(key: "requestId", value: .string(requestID)),
        ])
        let answers = await pending.collect(requestID, expected: others, timeout: requestsTimeout) {
            self.publishRequest(.serverSideEmit, data)
        }
        return BroadcastAcks(responses: answers, complete: answers.count >= others)
    }

    /// A pub/sub message of another server: JSON or msgpack `{type, data, uid, nsp}`, handled
    /// when it is for this namespace and not this server's own; malformed ones logged and dropped.
    func receiveEnvelope(_ message: RedisPubSubMessage) {
        let envelope: JSONValue
        do {
            let bytes = message.payload.readableBytesView
            envelope = bytes.first == UInt8(ascii: "{") ? try JSONParser.parse(Array(bytes)) : try MessagePack.decode(message.payload)
        } catch {
            logger.warning("dropped a malformed message", metadata: ["channel": "\(message.channel)", "error": "\(error)"])
            return
        }
        guard let code = envelope["type"]?.integerValue, let type = ClusterMessageType(rawValue: Int(code)) else {
            logger.warning("dropped a message without a known type", metadata: ["channel": "\(message.channel)"])
            return
        }
        guard envelope["uid"]?.stringValue != uid, envelope["nsp"]?.stringValue == namespace.name else { return }
        handle(type, envelope["data"] ?? .null, from: envelope["uid"]?.stringValue)
    }

    // MARK: Handling
    /// One message of another server for this namespace. `offset` is the stream entry id of a
    /// broadcast read from a stream: appended to the event, as Node does, when connection state
    /// recovery is on and the event has no ack id and is not volatile.
    func handle(_ type: ClusterMessageType, _ data: JSONValue, from sender: String?, offset: String? = nil) {
        let requestID = data["requestId"]?.stringValue
        switch type {
        case .initialHeartbeat, .heartbeat, .adapterClose:
            return  // Only ClusterAdapterWithHeartbeat sends these; the Redis adapters do not.
        case .broadcast:
            guard let packet = WireFormat.clusterPacket(data["packet"], namespace: namespace.name) else { return }
            let options = WireFormat.broadcastOptions(data["opts"])
            guard let requestID, let sender else {
                local.broadcast(Self.withOffset(packet, offset, options: options, namespace: namespace), options: options)
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

    /// Node's rule for offsets (socket.io-adapter's `addOffsetIfNecessary`).
    static func withOffset(_ packet: SocketIOPacket, _ offset: String?, options: BroadcastOptions, namespace: Namespace) -> SocketIOPacket {
        guard let offset, namespace.server.configuration.connectionStateRecovery != nil, packet.type == .event, packet.id == nil,
            !options.flags.volatile, let data = packet.data?.arrayValue
        else { return packet }
        var stamped = packet
        stamped.data = .array(data + [.string(offset)])
        return stamped
    }
}

extension WireFormat {
    /// A packet of a `ClusterAdapter` message: `{type, data}`, its namespace the message's.
    static func clusterPacket(_ value: JSONValue?, namespace: String) -> SocketIOPacket? {
        guard let value, value.isObject, let data = value["data"], data.arrayValue != nil else { return nil }
        return SocketIOPacket(type: .event, namespace: namespace, data: data)
    }
}
