import Foundation
import Logging
import NIOCore
import RedisClient
import SocketIO

/// Settings of the sharded adapter, with the defaults of Node's `createShardedAdapter`.
public struct ShardedAdapterConfiguration: Sendable {
    /// Which rooms get a channel of their own.
    public enum SubscriptionMode: String, Sendable, CaseIterable {
        /// Only the namespace's channel (and this server's response channel).
        case `static`
        /// A channel per public room (any name but a 20-character one, the length of socket
        /// ids), subscribed while a local socket is in it.
        case dynamic
        /// A channel per room, socket ids included.
        case dynamicPrivate = "dynamic-private"
    }

    /// `channelPrefix` in Node, `socket.io` by default.
    public var channelPrefix: String
    public var subscriptionMode: SubscriptionMode
    /// How long requests to other servers (fetchSockets, serverSideEmit acks) wait.
    public var requestsTimeout: Duration

    public init(channelPrefix: String = "socket.io", subscriptionMode: SubscriptionMode = .dynamic, requestsTimeout: Duration = .seconds(5)) {
        self.channelPrefix = channelPrefix
        self.subscriptionMode = subscriptionMode
        self.requestsTimeout = requestsTimeout
    }
}

/// The cluster adapter over Redis 7 sharded pub/sub, wire-compatible with Node's
/// `createShardedAdapter` of `@socket.io/redis-adapter` 8.3: ClusterAdapter envelopes
/// `{type, data, uid, nsp}` (JSON, or msgpack when `data` holds binary) with `SPUBLISH` on
/// `P#N#`, `P#N#ROOM#` (single-room broadcasts without acks, in the dynamic modes) and
/// `P#N#<uid>#` (responses, to the requester only); the server count is `PUBSUB SHARDNUMSUB P#N#`.
/// Unlike the classic adapter a server applies its own join/leave/disconnect requests locally
/// and drops their echo by uid. A server receives only the namespace's channel, its own, and
/// the rooms it has sockets in — with rooms spread over shards, adding servers does not add to
/// every server's load.
public final class ShardedRedisAdapter: BusAdapter, ClusterMessageHandling {
    typealias MessageType = ClusterMessageType

    public let namespace: Namespace
    let redis: RedisClient
    let configuration: ShardedAdapterConfiguration
    /// 8 random bytes in hex, as Node's ClusterAdapter makes it.
    let uid: String
    let local: InMemoryAdapter
    let logger: Logger
    let pending = PendingRequests()
    let serverSideEvents = SerialMailbox()
    let mainChannel: String
    let ownChannel: String

    public init(namespace: Namespace, redis: RedisClient, configuration: ShardedAdapterConfiguration = .init(), logger: Logger) {
        self.namespace = namespace
        self.redis = redis
        self.configuration = configuration
        self.uid = Self.randomHex()
        self.local = InMemoryAdapter(namespace: namespace)
        self.logger = logger
        self.mainChannel = "\(configuration.channelPrefix)#\(namespace.name)#"
        self.ownChannel = mainChannel + uid + "#"
        redis.onMessage { [weak self] message in
            guard message.isSharded else { return }
            self?.receive(message)
        }
        let channels = [mainChannel, ownChannel]
        Task {
            // Kept by the client: subscribed again on whichever node owns each channel.
            for channel in channels { try? await redis.ssubscribe(channel) }
        }
    }

    static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    func roomChannel(_ room: String) -> String { mainChannel + room + "#" }

    /// Whether a room has a channel of its own in the configured mode.
    func hasOwnChannel(_ room: String) -> Bool {
        switch configuration.subscriptionMode {
        case .static: false
        case .dynamic: room.utf16.count != 20
        case .dynamicPrivate: true
        }
    }

    // MARK: Rooms (local, with the room channels following them)

    public func addAll(_ socketID: String, rooms: Set<String>) {
        let created = rooms.filter { hasOwnChannel($0) && local.matchingSocketIDs(BroadcastOptions(rooms: [$0])).isEmpty }
        local.addAll(socketID, rooms: rooms)
        for room in created { subscribe(room) }
    }

    public func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void) { local.onRoomEvent(handler) }

    public func delete(_ socketID: String, room: String) {
        local.delete(socketID, room: room)
        if hasOwnChannel(room), local.matchingSocketIDs(BroadcastOptions(rooms: [room])).isEmpty { unsubscribe(room) }
    }

    public func deleteAll(_ socketID: String) {
        let rooms = local.socketRooms(socketID) ?? []
        local.deleteAll(socketID)
        for room in rooms where hasOwnChannel(room) && local.matchingSocketIDs(BroadcastOptions(rooms: [room])).isEmpty {
            unsubscribe(room)
        }
    }

    public func socketRooms(_ socketID: String) -> Set<String>? { local.socketRooms(socketID) }
    public func sockets(in rooms: Set<String>) async -> Set<String> { await local.sockets(in: rooms) }

    private func subscribe(_ room: String) {
        let channel = roomChannel(room)
        let redis = self.redis
        Task { try? await redis.ssubscribe(channel) }
    }

    private func unsubscribe(_ room: String) {
        let channel = roomChannel(room)
        let redis = self.redis
        Task { try? await redis.sunsubscribe(channel) }
    }

    // MARK: Broadcasts

    /// A broadcast without acks to exactly one room with a channel of its own goes there.
    func broadcastChannel(_ options: BroadcastOptions, withAck: Bool) -> String {
        if !withAck, options.rooms.count == 1, let room = options.rooms.first, hasOwnChannel(room) { return roomChannel(room) }
        return mainChannel
    }

    func publishBroadcast(_ packet: SocketIOPacket, options: BroadcastOptions) -> EventLoopFuture<RESPValue> {
        let data: JSONValue = .object([
            JSONMember(key: "packet", value: Self.packet(packet)),
            JSONMember(key: "opts", value: WireFormat.options(options)),
        ])
        return publish(.broadcast, data, to: broadcastChannel(options, withAck: false))
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
        (try? await redis.shardSubscriberCount(mainChannel)).map { max($0, 1) } ?? 1
    }

    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor] {
        await clusterFetchSockets(options)
    }

    /// Room changes for matching local sockets, through this adapter so the room channels follow.
    func joinNow(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in local.matchingSocketIDs(options) { addAll(id, rooms: rooms) }
    }

    func leaveNow(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in local.matchingSocketIDs(options) {
            for room in rooms { delete(id, room: room) }
        }
    }

    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        joinNow(options, rooms: rooms)
        if !options.flags.local { publishRoomChange(.socketsJoin, options: options, rooms: rooms) }
    }

    public func deleteSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        leaveNow(options, rooms: rooms)
        if !options.flags.local { publishRoomChange(.socketsLeave, options: options, rooms: rooms) }
    }

    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        await local.disconnectSockets(options, close: close)
        guard !options.flags.local else { return }
        let data: JSONValue = .object([
            JSONMember(key: "opts", value: WireFormat.options(options)),
            JSONMember(key: "close", value: .bool(close)),
        ])
        _ = publish(.disconnectSockets, data, to: mainChannel)
    }

    public func serverSideEmit(_ args: [JSONValue]) async {
        _ = publish(.serverSideEmit, .object([JSONMember(key: "packet", value: .array(args))]), to: mainChannel)
    }

    public func serverSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks {
        await clusterServerSideEmitWithAck(args)
    }

    var requestsTimeout: Duration { configuration.requestsTimeout }

    func publishRequest(_ type: ClusterMessageType, _ data: JSONValue) {
        publish(type, data, to: mainChannel)
    }

    public func close() async {
        let rooms = local.allRooms.filter(hasOwnChannel).map(roomChannel)
        for channel in [mainChannel, ownChannel] + rooms { try? await redis.sunsubscribe(channel) }
    }

    private func publishRoomChange(_ type: MessageType, options: BroadcastOptions, rooms: Set<String>) {
        let data: JSONValue = .object([
            JSONMember(key: "opts", value: WireFormat.options(options)),
            JSONMember(key: "rooms", value: .array(rooms.sorted().map { .string($0) })),
        ])
        _ = publish(type, data, to: mainChannel)
    }

    // MARK: The envelope

    /// `{type, data}` then `uid` and `nsp`, in Node's key order: JSON, or msgpack when `data`
    /// holds binary (Node does that for types 3, 8, 9, 10 and 12, the only ones that can).
    func envelope(_ type: MessageType, _ data: JSONValue?) -> [UInt8] {
        var members = [JSONMember(key: "type", value: .number(Double(type.rawValue)))]
        if let data { members.append(JSONMember(key: "data", value: data)) }
        members.append(JSONMember(key: "uid", value: .string(uid)))
        members.append(JSONMember(key: "nsp", value: .string(namespace.name)))
        let message = JSONValue.object(members)
        return data.map(Self.containsBinary) == true ? MessagePack.encode(message) : Array(message.jsonText.utf8)
    }

    @discardableResult
    func publish(_ type: MessageType, _ data: JSONValue?, to channel: String) -> EventLoopFuture<RESPValue> {
        redis.spublishInOrder(envelope(type, data), to: channel)
    }

    /// A packet as the envelope carries it: `{type, data}` (and `id`), without `nsp`.
    static func packet(_ packet: SocketIOPacket) -> JSONValue {
        var members = [JSONMember(key: "type", value: .number(Double(packet.type.rawValue)))]
        if let data = packet.data { members.append(JSONMember(key: "data", value: data)) }
        if let id = packet.id { members.append(JSONMember(key: "id", value: .number(Double(id)))) }
        return .object(members)
    }

    static func containsBinary(_ value: JSONValue) -> Bool {
        switch value {
        case .binary: true
        case .array(let items): items.contains(where: containsBinary)
        case .object(let members): members.contains { containsBinary($0.value) }
        default: false
        }
    }
}
