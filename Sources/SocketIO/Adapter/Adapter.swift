/// Which sockets a broadcast reaches.
public struct BroadcastOptions: Sendable, Equatable {
    /// Union of these rooms; empty means every socket of the namespace.
    public var rooms: Set<String>
    /// Sockets in any of these rooms are left out.
    public var except: Set<String>
    public var flags: BroadcastFlags

    public init(rooms: Set<String> = [], except: Set<String> = [], flags: BroadcastFlags = .init()) {
        self.rooms = rooms
        self.except = except
        self.flags = flags
    }
}

extension BroadcastOptions {
    /// Whether a socket in `socketRooms` is reached: in one of `rooms` (or `rooms` empty) and in
    /// none of `except` (Node's `shouldIncludePacket`).
    public func reaches(rooms socketRooms: Set<String>) -> Bool {
        (rooms.isEmpty || !rooms.isDisjoint(with: socketRooms)) && except.isDisjoint(with: socketRooms)
    }
}

public struct BroadcastFlags: Sendable, Equatable {
    /// Only sockets of this process, even with a cluster adapter.
    public var local: Bool
    /// The packet may be dropped for clients that are not ready to receive it.
    public var volatile: Bool
    /// How long to wait for acknowledgements, for broadcasts with acks.
    public var timeout: Duration?

    public init(local: Bool = false, volatile: Bool = false, timeout: Duration? = nil) {
        self.local = local
        self.volatile = volatile
        self.timeout = timeout
    }
}

/// A change of this server's rooms (Node's adapter events `create-room`, `delete-room`,
/// `join-room`, `leave-room`); a socket's own room counts, as in Node.
public enum RoomEvent: Sendable, Equatable {
    case created(room: String)
    case deleted(room: String)
    case joined(room: String, socketID: String)
    case left(room: String, socketID: String)
}

/// A socket as any member of the cluster can describe it (Node's `RemoteSocket`).
public struct SocketDescriptor: Sendable, Equatable {
    public var id: String
    public var rooms: Set<String>
    public var data: JSONValue
    public var handshakeAuth: JSONValue
    public var handshakeQuery: [String: String]
    /// The handshake's headers as Node's `handshake.headers` has them: lower-case names, the
    /// values of a repeated header joined with ", ".
    public var handshakeHeaders: [String: String]
    public var address: String?

    public init(
        id: String,
        rooms: Set<String>,
        data: JSONValue,
        handshakeAuth: JSONValue = [:],
        handshakeQuery: [String: String] = [:],
        handshakeHeaders: [String: String] = [:],
        address: String? = nil
    ) {
        self.id = id
        self.rooms = rooms
        self.data = data
        self.handshakeAuth = handshakeAuth
        self.handshakeQuery = handshakeQuery
        self.handshakeHeaders = handshakeHeaders
        self.address = address
    }
}

/// How broadcasts and room operations leave the process — the seam a cluster adapter plugs
/// into, shaped after Node's `socket.io-adapter`. One adapter per namespace.
///
/// Room membership calls are synchronous and local; operations that may involve other servers
/// are `async`.
public protocol Adapter: Sendable {
    /// Adds a local socket to rooms.
    func addAll(_ socketID: String, rooms: Set<String>)
    /// Removes a local socket from one room.
    func delete(_ socketID: String, room: String)
    /// Removes a local socket from every room.
    func deleteAll(_ socketID: String)
    /// The rooms a local socket is in.
    func socketRooms(_ socketID: String) -> Set<String>?

    /// Sends a packet to every matching socket (cluster-wide unless `flags.local`).
    func broadcast(_ packet: SocketIOPacket, options: BroadcastOptions)
    /// Like ``broadcast(_:options:)``, returning once the packet can no longer be overtaken by a
    /// later broadcast from any server (for a cluster adapter: once the bus accepted it). Use it
    /// where the order of broadcasts across servers matters.
    func broadcastInOrder(_ packet: SocketIOPacket, options: BroadcastOptions) async
    /// Sends a packet that asks for acks; `clientCount` reports how many sockets were reached
    /// (it may be called more than once, once per server), `ack` receives each response.
    func broadcastWithAck(
        _ packet: SocketIOPacket,
        options: BroadcastOptions,
        clientCount: @escaping @Sendable (Int) -> Void,
        ack: @escaping @Sendable (JSONValue) -> Void
    )

    /// Ids of the sockets in any of the rooms (all when empty).
    func sockets(in rooms: Set<String>) async -> Set<String>
    func fetchSockets(_ options: BroadcastOptions) async -> [SocketDescriptor]
    func addSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    func deleteSockets(_ options: BroadcastOptions, rooms: Set<String>) async
    func disconnectSockets(_ options: BroadcastOptions, close: Bool) async
    /// Sends an event to the other servers of the cluster (never to clients).
    func serverSideEmit(_ args: [JSONValue]) async
    /// Sends an event to the other servers and collects one answer from each, within the
    /// adapter's request timeout; `complete` is false when some server did not answer in time.
    func serverSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks
    /// How many servers share this namespace, this one included.
    func serverCount() async -> Int
    func close() async

    /// Tells `handler` of every change of this server's rooms, as it happens.
    func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void)

    /// Whether this adapter keeps sessions and broadcasts for connection state recovery.
    var recoversConnections: Bool { get }
    /// Keeps a socket whose connection dropped.
    func persistSession(_ session: RecoverableSession)
    /// The kept socket of `pid` and what it missed after `offset`; nil when it cannot come back.
    /// Consumes the session (a second restore of the same pid finds nothing) where the store is
    /// shared (Redis); the in-process store keeps it until it expires, as Node's does.
    func restoreSession(pid: String, offset: String) async -> RestoredSession?
    /// The events for `rooms` after `offset`, each ending with its offset: asked once more after
    /// a restored socket became reachable, for what was broadcast while it was being restored.
    func missedPackets(after offset: String, rooms: Set<String>) async -> [[JSONValue]]
}

extension Adapter {
    public func serverSideEmitWithAck(_ args: [JSONValue]) async -> BroadcastAcks {
        BroadcastAcks(responses: [], complete: true)
    }

    /// An adapter without rooms of its own has no room events.
    public func onRoomEvent(_ handler: @escaping @Sendable (RoomEvent) -> Void) {}

    /// Cluster adapters do not recover connections (as Node's Redis pub/sub adapters).
    public var recoversConnections: Bool { false }
    public func persistSession(_ session: RecoverableSession) {}
    public func restoreSession(pid: String, offset: String) async -> RestoredSession? { nil }
    public func missedPackets(after offset: String, rooms: Set<String>) async -> [[JSONValue]] { [] }

    public func broadcastInOrder(_ packet: SocketIOPacket, options: BroadcastOptions) async {
        broadcast(packet, options: options)
    }
}
