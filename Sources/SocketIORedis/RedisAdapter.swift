import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import SocketIO

/// The cluster adapter over Redis pub/sub, wire-compatible with Node's `@socket.io/redis-adapter`
/// (classic, `createAdapter()`): a Node.js server with that adapter on the same Redis and key
/// is a full member of the cluster.
///
/// Rooms and local delivery are the in-process adapter's; this type adds what crosses servers.
public final class RedisAdapter: BusAdapter {
    public let namespace: Namespace
    let redis: RedisClient
    let configuration: RedisAdapterConfiguration
    let uid: String
    let channels: AdapterChannels
    let local: InMemoryAdapter
    let logger: Logger
    let pending = PendingRequests()
    let serverSideEvents = SerialMailbox()

    public init(namespace: Namespace, redis: RedisClient, configuration: RedisAdapterConfiguration = .init(), logger: Logger) {
        self.namespace = namespace
        self.redis = redis
        self.configuration = configuration
        self.uid = AdapterUID.make()
        self.channels = AdapterChannels(key: configuration.key, namespace: namespace.name, uid: uid)
        self.local = InMemoryAdapter(namespace: namespace)
        self.logger = logger
        redis.onMessage { [weak self] message in self?.receive(message) }
        let channels = self.channels
        Task {
            // Recorded by the client even while Redis is away, and subscribed again on reconnect.
            try? await redis.psubscribe(channels.pattern)
            try? await redis.subscribe(channels.request)
            try? await redis.subscribe(channels.response)
            try? await redis.subscribe(channels.ownResponse)
        }
    }

    // MARK: Rooms (local)

    public func addAll(_ socketID: String, rooms: Set<String>) { local.addAll(socketID, rooms: rooms) }
    public func delete(_ socketID: String, room: String) { local.delete(socketID, room: room) }
    public func deleteAll(_ socketID: String) { local.deleteAll(socketID) }
    public func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void) { local.onRoomEvent(handler) }
    public func socketRooms(_ socketID: String) -> Set<String>? { local.socketRooms(socketID) }
    public func sockets(in rooms: Set<String>) async -> Set<String> { await local.sockets(in: rooms) }

    // MARK: Broadcasts

    /// `[uid, {type: 2, data, nsp}, {rooms, except, flags}]` in msgpack on `K#N#[ROOM#]`.
    func publishBroadcast(_ packet: SocketIOPacket, options: BroadcastOptions) -> EventLoopFuture<RESPValue> {
        let message: JSONValue = [.string(uid), WireFormat.packet(packet, namespace: namespace.name), WireFormat.options(options)]
        return redis.publishInOrder(MessagePack.encode(message), to: channels.broadcastChannel(rooms: options.rooms))
    }

    public func broadcastWithAck(
        _ packet: SocketIOPacket,
        options: BroadcastOptions,
        clientCount: @escaping @Sendable (Int) -> Void,
        ack: @escaping @Sendable (JSONValue) -> Void
    ) {
        if !options.flags.local {
            let requestID = AdapterUID.make()
            let timeout = options.flags.timeout ?? .seconds(10)
            pending.add(requestID, .broadcastAck(clientCount: clientCount, ack: ack), expiresIn: timeout)
            var withoutID = packet
            withoutID.id = nil
            let request: JSONValue = .object([
                JSONMember(key: "uid", value: .string(uid)),
                JSONMember(key: "requestId", value: .string(requestID)),
                JSONMember(key: "type", value: .number(Double(RequestType.broadcast.rawValue))),
                JSONMember(key: "packet", value: WireFormat.packet(withoutID, namespace: namespace.name)),
                JSONMember(key: "opts", value: WireFormat.options(options, includeTimeout: true)),
            ])
            _ = redis.publishInOrder(MessagePack.encode(request), to: channels.request)
        }
        local.broadcastWithAck(packet, options: options, clientCount: clientCount, ack: ack)
    }

    // MARK: Cluster operations

    public func serverCount() async -> Int {
        (try? await redis.subscriberCount(channels.request)).map { max($0, 1) } ?? 1
    }

    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor] {
        let mine = await local.fetchSockets(options)
        guard !options.flags.local else { return mine }
        let servers = await serverCount()
        guard servers > 1 else { return mine }
        let requestID = AdapterUID.make()
        let request: JSONValue = .object([
            JSONMember(key: "uid", value: .string(uid)),
            JSONMember(key: "requestId", value: .string(requestID)),
            JSONMember(key: "type", value: .number(Double(RequestType.remoteFetch.rawValue))),
            JSONMember(key: "opts", value: WireFormat.options(options, includeFlags: false)),
        ])
        let others = await pending.collect(requestID, expected: servers - 1, timeout: configuration.requestsTimeout) {
            self.publishJSON(request, to: self.channels.request)
        }
        return mine + others.flatMap { $0.arrayValue ?? [] }.compactMap(WireFormat.descriptor)
    }

    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await local.addSockets(options, rooms: rooms)
        if !options.flags.local { publishRoomChange(.remoteJoin, options: options, rooms: rooms) }
    }

    public func deleteSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        await local.deleteSockets(options, rooms: rooms)
        if !options.flags.local { publishRoomChange(.remoteLeave, options: options, rooms: rooms) }
    }

    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        await local.disconnectSockets(options, close: close)
        guard !options.flags.local else { return }
        publishJSON(
            .object([
                JSONMember(key: "uid", value: .string(uid)),
                JSONMember(key: "type", value: .number(Double(RequestType.remoteDisconnect.rawValue))),
                JSONMember(key: "opts", value: WireFormat.options(options, includeFlags: false)),
                JSONMember(key: "close", value: .bool(close)),
            ]),
            to: channels.request
        )
    }

    public func serverSideEmit(_ args: [JSONValue]) async {
        publishJSON(
            .object([
                JSONMember(key: "uid", value: .string(uid)),
                JSONMember(key: "type", value: .number(Double(RequestType.serverSideEmit.rawValue))),
                JSONMember(key: "data", value: .array(args)),
            ]),
            to: channels.request
        )
    }

    /// Sends an event to the other servers and collects one answer from each (Node's
    /// `serverSideEmitWithAck`); what arrived before the timeout is returned.
    public func serverSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks {
        let others = await serverCount() - 1
        guard others > 0 else { return BroadcastAcks(responses: [], complete: true) }
        let requestID = AdapterUID.make()
        let request: JSONValue = .object([
            JSONMember(key: "uid", value: .string(uid)),
            JSONMember(key: "requestId", value: .string(requestID)),
            JSONMember(key: "type", value: .number(Double(RequestType.serverSideEmit.rawValue))),
            JSONMember(key: "data", value: .array(args)),
        ])
        let answers = await pending.collect(requestID, expected: others, timeout: configuration.requestsTimeout) {
            self.publishJSON(request, to: self.channels.request)
        }
        return BroadcastAcks(responses: answers, complete: answers.count >= others)
    }

    public func close() async {
        try? await redis.punsubscribe(channels.pattern)
        try? await redis.unsubscribe(channels.request)
        try? await redis.unsubscribe(channels.response)
        try? await redis.unsubscribe(channels.ownResponse)
    }

    // MARK: Publishing

    private func publishRoomChange(_ type: RequestType, options: BroadcastOptions, rooms: Set<String>) {
        publishJSON(
            .object([
                JSONMember(key: "uid", value: .string(uid)),
                JSONMember(key: "type", value: .number(Double(type.rawValue))),
                JSONMember(key: "opts", value: WireFormat.options(options, includeFlags: false)),
                JSONMember(key: "rooms", value: .array(rooms.sorted().map { .string($0) })),
            ]),
            to: channels.request
        )
    }

    func publishJSON(_ value: JSONValue, to channel: String) {
        _ = redis.publishInOrder(Array(value.jsonText.utf8), to: channel)
    }

    func publishMessagePack(_ value: JSONValue, to channel: String) {
        _ = redis.publishInOrder(MessagePack.encode(value), to: channel)
    }
}
