import Foundation
import Logging
import NIOCore
import RedisClient
import SocketIO

/// The cluster adapter over Redis Streams, wire-compatible with Node's
/// `@socket.io/redis-streams-adapter` 0.3: broadcasts without acks, joins, leaves and
/// disconnects are `XADD`ed to the namespace's stream as fields `uid`, `nsp`, `type`, `data`
/// (JSON, or base64 msgpack when it holds binary) and read by every server with `XREAD` from the
/// last entry id it handled, so a server whose connection dropped (or a Redis that restarted)
/// misses nothing once it reads again, within the stream's `MAXLEN ~`. Requests and responses are
/// ephemeral: msgpack `ClusterAdapter` messages over pub/sub on `P#N#` and `P#N#<uid>#`; the
/// server count is `PUBSUB NUMSUB P#N#`.
///
/// Connection state recovery works across servers: the entry id is every broadcast's offset,
/// dropped sessions are kept in Redis (`SET sio:session:<pid> <base64 msgpack> PX`), and a client
/// that comes back to any server gets what it missed from the stream.
public final class StreamsRedisAdapter: Adapter, ClusterMessageHandling {
    public let namespace: Namespace
    let redis: RedisClient
    let configuration: StreamsAdapterConfiguration
    let uid: String
    let local: InMemoryAdapter
    let logger: Logger
    let pending = PendingRequests()
    let serverSideEvents = SerialMailbox()
    let streamKey: String
    let publicChannel: String
    let privateChannel: String
    private let readers: RedisStreamReaders

    init(namespace: Namespace, redis: RedisClient, configuration: StreamsAdapterConfiguration, readers: RedisStreamReaders, logger: Logger) {
        self.namespace = namespace
        self.redis = redis
        self.configuration = configuration
        self.uid = ShardedRedisAdapter.randomHex()
        self.local = InMemoryAdapter(namespace: namespace)
        self.logger = logger
        self.streamKey = configuration.streamKey(of: namespace.name)
        self.publicChannel = "\(configuration.channelPrefix)#\(namespace.name)#"
        self.privateChannel = publicChannel + uid + "#"
        self.readers = readers
        let sharded = configuration.useShardedPubSub
        let channels = [publicChannel, privateChannel]
        redis.onMessage { [weak self] message in
            guard let self, message.isSharded == sharded, channels.contains(message.channel) else { return }
            self.receiveEnvelope(message)
        }
        Task {
            for channel in channels {
                if sharded { try? await redis.ssubscribe(channel) } else { try? await redis.subscribe(channel) }
            }
        }
        readers.register(self)
    }

    // MARK: Rooms (local)

    public func addAll(_ socketID: String, rooms: Set<String>) { local.addAll(socketID, rooms: rooms) }
    public func delete(_ socketID: String, room: String) { local.delete(socketID, room: room) }
    public func deleteAll(_ socketID: String) { local.deleteAll(socketID) }
    public func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void) { local.onRoomEvent(handler) }
    public func socketRooms(_ socketID: String) -> Set<String>? { local.socketRooms(socketID) }
    public func sockets(in rooms: Set<String>) async -> Set<String> { await local.sockets(in: rooms) }
    func joinNow(_ options: BroadcastOptions, rooms: Set<String>) { local.joinNow(options, rooms: rooms) }
    func leaveNow(_ options: BroadcastOptions, rooms: Set<String>) { local.leaveNow(options, rooms: rooms) }

    // MARK: Broadcasts

    func publishBroadcast(_ packet: SocketIOPacket, options: BroadcastOptions) -> EventLoopFuture<RESPValue> {
        append(.broadcast, Self.broadcastData(packet, options: options))
    }

    static func broadcastData(_ packet: SocketIOPacket, options: BroadcastOptions) -> JSONValue {
        .object([
            JSONMember(key: "packet", value: ShardedRedisAdapter.packet(packet)),
            JSONMember(key: "opts", value: WireFormat.options(options)),
        ])
    }

    /// As Node: the append first, then local delivery with the entry id as the offset (without
    /// one when the append failed: this server's sockets still get it).
    public func broadcast(_ packet: SocketIOPacket, options: BroadcastOptions) {
        guard !options.flags.local else {
            local.broadcast(packet, options: options)
            return
        }
        let local = self.local
        let namespace = self.namespace
        let logger = self.logger
        publishBroadcast(packet, options: options).whenComplete { result in
            switch result {
            case .success(let reply):
                local.broadcast(Self.withOffset(packet, reply.string, options: options, namespace: namespace), options: options)
            case .failure(let error):
                logger.warning("broadcast not appended to the stream", metadata: ["error": "\(error)"])
                local.broadcast(packet, options: options)
            }
        }
    }

    /// The append is retried while Redis is away, up to ``StreamsAdapterConfiguration/appendRetryLimit``;
    /// the caller waits, so nothing it broadcasts later overtakes this one. Past the limit the
    /// packet reaches this server's sockets only (logged as an error).
    public func broadcastInOrder(_ packet: SocketIOPacket, options: BroadcastOptions) async {
        guard !options.flags.local else {
            local.broadcast(packet, options: options)
            return
        }
        let started = ContinuousClock.now
        var attempts = 0
        while true {
            attempts += 1
            do {
                let reply = try await publishBroadcast(packet, options: options).get()
                if attempts > 1 {
                    logger.info("broadcast appended after a retry", metadata: ["attempts": "\(attempts)", "waited": "\(ContinuousClock.now - started)"])
                }
                local.broadcast(Self.withOffset(packet, reply.string, options: options, namespace: namespace), options: options)
                return
            } catch {
                if ContinuousClock.now - started >= configuration.appendRetryLimit {
                    logger.error("broadcast reached this server only: the stream refused it", metadata: ["attempts": "\(attempts)", "error": "\(error)"])
                    local.broadcast(packet, options: options)
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    public func broadcastWithAck(
        _ packet: SocketIOPacket,
        options: BroadcastOptions,
        clientCount: @escaping @Sendable (Int) -> Void,
        ack: @escaping @Sendable (JSONValue) -> Void
    ) {
        clusterBroadcastWithAck(packet, options: options, clientCount: clientCount, ack: ack)
    }

    // MARK: Cluster operations

    public func serverCount() async -> Int {
        let count = configuration.useShardedPubSub
            ? try? await redis.shardSubscriberCount(publicChannel) : try? await redis.subscriberCount(publicChannel)
        return count.map { max($0, 1) } ?? 1
    }

    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor] {
        await clusterFetchSockets(options)
    }

    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await roomChange(.socketsJoin, options: options, rooms: rooms)
        joinNow(options, rooms: rooms)
    }

    public func deleteSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await roomChange(.socketsLeave, options: options, rooms: rooms)
        leaveNow(options, rooms: rooms)
    }

    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        if !options.flags.local {
            let data: JSONValue = .object([
                JSONMember(key: "opts", value: WireFormat.options(options)),
                JSONMember(key: "close", value: .bool(close)),
            ])
            _ = try? await append(.disconnectSockets, data).get()
        }
        await local.disconnectSockets(options, close: close)
    }

    public func serverSideEmit(_ args: [JSONValue]) async {
        publish(.serverSideEmit, .object([JSONMember(key: "packet", value: .array(args))]), to: publicChannel)
    }

    public func serverSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks {
        await clusterServerSideEmitWithAck(args)
    }

    var requestsTimeout: Duration { configuration.requestsTimeout }

    func publishRequest(_ type: ClusterMessageType, _ data: JSONValue) {
        publish(type, data, to: publicChannel)
    }

    public func close() async {
        readers.unregister(self)
        for channel in [publicChannel, privateChannel] {
            if configuration.useShardedPubSub { try? await redis.sunsubscribe(channel) } else { try? await redis.unsubscribe(channel) }
        }
    }

    /// Node awaits the append of a room change before applying it here.
    private func roomChange(_ type: ClusterMessageType, options: BroadcastOptions, rooms: Set<String>) async {
        guard !options.flags.local else { return }
        let data: JSONValue = .object([
            JSONMember(key: "opts", value: WireFormat.options(options)),
            JSONMember(key: "rooms", value: .array(rooms.sorted().map { .string($0) })),
        ])
        do {
            _ = try await append(type, data).get()
        } catch {
            logger.warning("room change not appended to the stream", metadata: ["error": "\(error)"])
        }
    }

    // MARK: The stream

    /// `XADD <stream> MAXLEN ~ <maxLen> * uid … nsp … type … [data …]`, written now (in call order).
    func append(_ type: ClusterMessageType, _ data: JSONValue?) -> EventLoopFuture<RESPValue> {
        redis.sendInOrder(entryCommand(type, data), key: streamKey)
    }

    func entryCommand(_ type: ClusterMessageType, _ data: JSONValue?) -> [[UInt8]] {
        var arguments: [[UInt8]] = ["XADD", streamKey, "MAXLEN", "~", String(configuration.maxLen), "*", "uid", uid, "nsp", namespace.name, "type", String(type.rawValue)]
            .map { Array($0.utf8) }
        if let data {
            arguments.append(Array("data".utf8))
            arguments.append(Self.entryData(data, type: type, onlyPlaintext: configuration.onlyPlaintext))
        }
        return arguments
    }

    /// JSON text, or base64 of msgpack for the types Node checks for binary when it holds some.
    static func entryData(_ data: JSONValue, type: ClusterMessageType, onlyPlaintext: Bool) -> [UInt8] {
        let mayHoldBinary: Set<ClusterMessageType> = [.broadcast, .fetchSocketsResponse, .serverSideEmit, .serverSideEmitResponse, .broadcastAck]
        if !onlyPlaintext, mayHoldBinary.contains(type), ShardedRedisAdapter.containsBinary(data) {
            return Array(Data(MessagePack.encode(data)).base64EncodedString().utf8)
        }
        return Array(data.jsonText.utf8)
    }

    /// An entry's `data` field: JSON when it starts with `{`, else base64 of msgpack.
    static func decodeEntryData(_ bytes: [UInt8]) throws -> JSONValue {
        if bytes.first == UInt8(ascii: "{") { return try JSONParser.parse(bytes) }
        guard let decoded = Data(base64Encoded: Data(bytes)) else { throw StreamEntryError.notBase64 }
        return try MessagePack.decode(ByteBuffer(bytes: decoded))
    }

    /// One entry of the stream for this namespace (the readers dispatch by `nsp`).
    func receive(_ entry: StreamEntry) {
        guard let uidField = entry.field("uid"), String(decoding: uidField, as: UTF8.self) != uid else { return }
        guard let typeField = entry.field("type"), let code = Int(String(decoding: typeField, as: UTF8.self)),
            let type = ClusterMessageType(rawValue: code)
        else {
            logger.warning("dropped a stream entry without a known type", metadata: ["entry": "\(entry.id)"])
            return
        }
        var data: JSONValue = .null
        if let field = entry.field("data") {
            do {
                data = try Self.decodeEntryData(field)
            } catch {
                logger.warning("dropped a malformed stream entry", metadata: ["entry": "\(entry.id)", "error": "\(error)"])
                return
            }
        }
        // The stream carries only these in 0.3; anything else would be a request out of place.
        guard [.broadcast, .socketsJoin, .socketsLeave, .disconnectSockets].contains(type) else { return }
        if type == .broadcast, data["requestId"] != nil { return }
        // Node's decodeOptions refuses these; read as "everyone" they would reach every socket.
        guard let opts = data["opts"], opts.isObject, opts["rooms"]?.arrayValue != nil,
            opts["except"].map({ $0.arrayValue != nil }) ?? true
        else {
            logger.warning("dropped a stream entry without valid opts", metadata: ["entry": "\(entry.id)"])
            return
        }
        handle(type, data, from: String(decoding: uidField, as: UTF8.self), offset: entry.id)
    }

    // MARK: Pub/sub (requests and responses)

    func publish(_ type: ClusterMessageType, _ data: JSONValue?, to channel: String) {
        var members = [JSONMember(key: "type", value: .number(Double(type.rawValue)))]
        if let data { members.append(JSONMember(key: "data", value: data)) }
        members.append(JSONMember(key: "uid", value: .string(uid)))
        members.append(JSONMember(key: "nsp", value: .string(namespace.name)))
        let payload = MessagePack.encode(.object(members))
        if configuration.useShardedPubSub {
            _ = redis.spublishInOrder(payload, to: channel)
        } else {
            _ = redis.publishInOrder(payload, to: channel)
        }
    }

    func respond(to requester: String, _ type: ClusterMessageType, _ data: JSONValue) {
        publish(type, data, to: publicChannel + requester + "#")
    }

}

enum StreamEntryError: Error {
    case notBase64
}
