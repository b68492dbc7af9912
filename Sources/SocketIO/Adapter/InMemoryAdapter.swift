import EngineIO
import NIOConcurrencyHelpers

/// The single-process adapter: rooms in memory, broadcasts straight to local sockets.
public final class InMemoryAdapter: Adapter {
    private struct Rooms {
        var members: [String: Set<String>] = [:]
        var socketRooms: [String: Set<String>] = [:]
        /// Room event listeners; while there are none, no event is made.
        var listeners: [@Sendable (RoomEvent) -> Void] = []
    }

    public let namespace: Namespace
    private let rooms = NIOLockedValueBox(Rooms())
    /// Sessions and broadcasts kept for connection state recovery, when it is on.
    private let recovery: RecoveryLog?

    /// With `recovery`, this adapter keeps dropped sessions and logs broadcasts with offsets
    /// (the namespace's own adapter; a cluster adapter's local part is made without).
    public init(namespace: Namespace, recovery: ConnectionStateRecovery? = nil) {
        self.namespace = namespace
        self.recovery = recovery.map(RecoveryLog.init(configuration:))
    }

    public var recoversConnections: Bool { recovery != nil }

    public func persistSession(_ session: RecoverableSession) {
        recovery?.persist(session)
    }

    public func restoreSession(pid: String, offset: String) async -> RestoredSession? {
        recovery?.restore(pid: pid, offset: offset)
    }

    public func missedPackets(after offset: String, rooms: Set<String>) async -> [[JSONValue]] {
        recovery?.missed(after: offset, rooms: rooms) ?? []
    }

    public func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void) {
        rooms.withLockedValue { $0.listeners.append(handler) }
    }

    public func addAll(_ socketID: String, rooms newRooms: Set<String>) {
        let (events, listeners) = rooms.withLockedValue { state in
            var events: [RoomEvent] = []
            let observed = !state.listeners.isEmpty
            state.socketRooms[socketID, default: []].formUnion(newRooms)
            for room in newRooms {
                let created = state.members[room] == nil
                let joined = state.members[room, default: []].insert(socketID).inserted
                if observed {
                    if created { events.append(.created(room: room)) }
                    if joined { events.append(.joined(room: room, socketID: socketID)) }
                }
            }
            return (events, state.listeners)
        }
        Self.tell(listeners, events)
    }

    public func delete(_ socketID: String, room: String) {
        let (events, listeners) = rooms.withLockedValue { state in
            state.socketRooms[socketID]?.remove(room)
            return (Self.removeMember(socketID, from: room, in: &state), state.listeners)
        }
        Self.tell(listeners, events)
    }

    public func deleteAll(_ socketID: String) {
        let (events, listeners) = rooms.withLockedValue { state -> ([RoomEvent], [@Sendable (RoomEvent) -> Void]) in
            guard let joined = state.socketRooms.removeValue(forKey: socketID) else { return ([], []) }
            return (joined.flatMap { Self.removeMember(socketID, from: $0, in: &state) }, state.listeners)
        }
        Self.tell(listeners, events)
    }

    /// The events of the removal, when anyone listens.
    private static func removeMember(_ socketID: String, from room: String, in state: inout Rooms) -> [RoomEvent] {
        guard var members = state.members[room], members.remove(socketID) != nil else { return [] }
        state.members[room] = members.isEmpty ? nil : members
        guard !state.listeners.isEmpty else { return [] }
        return members.isEmpty ? [.left(room: room, socketID: socketID), .deleted(room: room)] : [.left(room: room, socketID: socketID)]
    }

    /// Outside the lock: a listener may look at the rooms.
    private static func tell(_ listeners: [@Sendable (RoomEvent) -> Void], _ events: [RoomEvent]) {
        for event in events {
            for listener in listeners { listener(event) }
        }
    }

    /// Every room with a local socket in it, socket id rooms included.
    public var allRooms: Set<String> {
        rooms.withLockedValue { Set($0.members.keys) }
    }

    public func socketRooms(_ socketID: String) -> Set<String>? {
        rooms.withLockedValue { $0.socketRooms[socketID] }
    }

    /// Local socket ids matching the options: each socket once, however many rooms it shares.
    public func matchingSocketIDs(_ options: BroadcastOptions) -> [String] {
        rooms.withLockedValue { state in
            var excluded = Set<String>()
            for room in options.except {
                if let members = state.members[room] { excluded.formUnion(members) }
            }
            if options.rooms.isEmpty {
                return state.socketRooms.keys.filter { !excluded.contains($0) }
            }
            if options.rooms.count == 1, excluded.isEmpty {
                // One room (a broadcast's usual case): its members are each there once already.
                return Array(state.members[options.rooms.first!] ?? [])
            }
            var seen = Set<String>()
            var result: [String] = []
            for room in options.rooms {
                guard let members = state.members[room] else { continue }
                for id in members where !excluded.contains(id) && seen.insert(id).inserted {
                    result.append(id)
                }
            }
            return result
        }
    }

    public func broadcast(_ packet: SocketIOPacket, options: BroadcastOptions) {
        var packet = packet
        // Node's rule: events without an ack request that are not volatile get an offset.
        if let recovery, packet.type == .event, packet.id == nil, !options.flags.volatile, let data = packet.data?.arrayValue {
            packet.data = .array(recovery.record(data, options: options))
        }
        let encoded = prepare(packet)
        // The offset, if it has one, tells a socket being recovered what its replay already holds.
        let offset = packet.type == .event && packet.id == nil ? packet.data?.arrayValue?.last?.stringValue : nil
        for socket in namespace.sockets(ids: matchingSocketIDs(options)) {
            socket.sendEncoded(encoded, packet: packet, volatile: options.flags.volatile, offset: offset)
        }
    }

    public func broadcastWithAck(
        _ packet: SocketIOPacket,
        options: BroadcastOptions,
        clientCount: @escaping @Sendable (Int) -> Void,
        ack: @escaping @Sendable (JSONValue) -> Void
    ) {
        let encoded = prepare(packet)
        let targets = namespace.sockets(ids: matchingSocketIDs(options))
        clientCount(targets.count)
        guard let id = packet.id else { return }
        for socket in targets {
            socket.registerAck(id) { args in
                ack(args.first ?? .null)
            }
            socket.sendEncoded(encoded, packet: packet)
        }
    }

    /// The packet encoded once for every socket it goes to.
    private func prepare(_ packet: SocketIOPacket) -> PreparedMessages {
        let configuration = namespace.server.configuration
        return PreparedMessages(configuration.parser.encode(packet), compressible: configuration.engine.perMessageDeflate != nil)
    }

    public func sockets(in rooms: Set<String>) async -> Set<String> {
        Set(matchingSocketIDs(BroadcastOptions(rooms: rooms)))
    }

    public func fetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor] {
        namespace.sockets(ids: matchingSocketIDs(options)).map(\.descriptor)
    }

    public func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        joinNow(options, rooms: rooms)
    }

    public func deleteSockets(_ options: BroadcastOptions, rooms: Set<String>) async {
        leaveNow(options, rooms: rooms)
    }

    public func disconnectSockets(_ options: BroadcastOptions, close: Bool) async {
        disconnectNow(options, close: close)
    }

    /// The room changes without suspension, for callers that must apply them in arrival order
    /// with broadcasts (a cluster adapter reading its bus).
    public func joinNow(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in matchingSocketIDs(options) { addAll(id, rooms: rooms) }
    }

    public func leaveNow(_ options: BroadcastOptions, rooms: Set<String>) {
        for id in matchingSocketIDs(options) {
            for room in rooms { delete(id, room: room) }
        }
    }

    public func disconnectNow(_ options: BroadcastOptions, close: Bool) {
        for socket in namespace.sockets(ids: matchingSocketIDs(options)) {
            socket.disconnect(close: close)
        }
    }

    public func serverSideEmit(_ args: [JSONValue]) async {
        // A single process has no other servers to tell.
    }

    public func serverCount() async -> Int { 1 }

    public func close() async {}
}
