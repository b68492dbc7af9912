import NIOConcurrencyHelpers

/// A Socket.IO namespace: its sockets, middleware, connection handlers and adapter.
public final class Namespace: Sendable {
    public typealias Middleware = @Sendable (Socket) async throws -> Void
    public typealias ConnectionHandler = @Sendable (Socket) async -> Void
    /// Handles an event from another server; a non-nil result answers a request that asked for
    /// an acknowledgement.
    public typealias ServerSideHandler = @Sendable ([JSONValue]) async -> JSONValue?

    public let name: String
    public let server: SocketIOServer
    /// The parent this namespace was made by, for a namespace made on demand.
    public let parent: ParentNamespace?

    private struct Handlers {
        var middleware: [Middleware] = []
        var connection: [ConnectionHandler] = []
        var serverSide: [String: [ServerSideHandler]] = [:]
    }

    private let sockets = NIOLockedValueBox<[String: Socket]>([:])
    private let handlers = NIOLockedValueBox(Handlers())
    private let adapterBox = NIOLockedValueBox<(any Adapter)?>(nil)

    init(name: String, server: SocketIOServer, parent: ParentNamespace? = nil, adapterFactory: @Sendable (Namespace) -> any Adapter) {
        self.name = name
        self.server = server
        self.parent = parent
        let adapter = adapterFactory(self)
        adapterBox.withLockedValue { $0 = adapter }
    }

    /// The adapter that carries this namespace's broadcasts.
    public var adapter: any Adapter { adapterBox.withLockedValue { $0! } }

    // MARK: Application API

    /// Adds a middleware, run in order for every connection before it is accepted.
    /// Throw ``ConnectionRefusal`` to refuse with a message and data.
    public func use(_ middleware: @escaping Middleware) {
        handlers.withLockedValue { $0.middleware.append(middleware) }
    }

    /// Runs for every accepted socket, before any of its events is handled.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        handlers.withLockedValue { $0.connection.append(handler) }
    }

    /// Handles events other servers of the cluster send with ``serverSideEmit(_:_:)``.
    public func onServerSideEmit(_ event: String, _ handler: @escaping ServerSideHandler) {
        handlers.withLockedValue { $0.serverSide[event, default: []].append(handler) }
    }

    /// The sockets of this process in this namespace.
    public var localSockets: [Socket] { sockets.withLockedValue { Array($0.values) } }

    public func socket(id: String) -> Socket? {
        sockets.withLockedValue { $0[id] }
    }

    /// The sockets of these ids that are here, in their order: one lock for a whole broadcast.
    func sockets(ids: [String]) -> [Socket] {
        sockets.withLockedValue { sockets in ids.compactMap { sockets[$0] } }
    }

    public var broadcastOperator: BroadcastOperator { BroadcastOperator(namespace: self) }

    public func to(_ rooms: String...) -> BroadcastOperator { broadcastOperator.to(rooms) }
    public func `in`(_ rooms: String...) -> BroadcastOperator { broadcastOperator.to(rooms) }
    public func except(_ rooms: String...) -> BroadcastOperator { broadcastOperator.except(rooms) }
    public var local: BroadcastOperator { broadcastOperator.local }
    public var volatile: BroadcastOperator { broadcastOperator.volatile }
    public func timeout(_ duration: Duration) -> BroadcastOperator { broadcastOperator.timeout(duration) }

    /// Emits to every socket of the namespace.
    public func emit(_ event: String, _ args: JSONValue...) {
        broadcastOperator.emit(event, args: args)
    }

    public func fetchSockets() async -> [RemoteSocket] { await broadcastOperator.fetchSockets() }
    public func socketsJoin(_ rooms: String...) async { await broadcastOperator.socketsJoin(Set(rooms)) }
    public func socketsLeave(_ rooms: String...) async { await broadcastOperator.socketsLeave(Set(rooms)) }
    public func disconnectSockets(close: Bool = false) async { await broadcastOperator.disconnectSockets(close: close) }

    /// Sends an event to the other servers of the cluster.
    public func serverSideEmit(_ event: String, _ args: JSONValue...) async {
        await serverSideEmit(event, args: args)
    }

    public func serverSideEmit(_ event: String, args: [JSONValue]) async {
        await adapter.serverSideEmit([.string(event)] + args)
    }

    /// Sends an event to the other servers and returns one answer per server; throws
    /// ``AckTimeout`` with the answers that came when some server did not answer within the
    /// adapter's request timeout.
    public func serverSideEmitWithAck(_ event: String, _ args: JSONValue...) async throws(AckTimeout) -> [JSONValue] {
        try await serverSideEmitWithAck(event, args: args)
    }

    public func serverSideEmitWithAck(_ event: String, args: [JSONValue]) async throws(AckTimeout) -> [JSONValue] {
        try await serverSideCollectAcks(event, args: args).get()
    }

    /// The same, answering with what came and whether it is complete instead of throwing.
    public func serverSideCollectAcks(_ event: String, args: [JSONValue]) async -> BroadcastAcks {
        await adapter.serverSideEmitWithAck([.string(event)] + args)
    }

    // MARK: Internals

    /// Called by a cluster adapter when another server sent a server-side event.
    /// Returns the first non-nil answer of the handlers, for requests that want one.
    @discardableResult
    public func receiveServerSideEmit(_ args: [JSONValue]) async -> JSONValue? {
        guard let event = args.first?.stringValue else { return nil }
        let list = handlers.withLockedValue { $0.serverSide[event] ?? [] }
        var answer: JSONValue?
        for handler in list {
            let result = await handler(Array(args.dropFirst()))
            if answer == nil { answer = result }
        }
        return answer
    }

    /// The parent's middleware first, then this namespace's.
    func runMiddleware(_ socket: Socket) async throws {
        let list = (parent?.middleware ?? []) + handlers.withLockedValue { $0.middleware }
        for middleware in list { try await middleware(socket) }
    }

    func runConnectionHandlers(_ socket: Socket) async {
        let list = (parent?.connectionHandlers ?? []) + handlers.withLockedValue { $0.connection }
        for handler in list { await handler(socket) }
    }

    func add(_ socket: Socket) {
        sockets.withLockedValue { $0[socket.id] = socket }
        adapter.addAll(socket.id, rooms: [socket.id])
    }

    func remove(_ socket: Socket) {
        let emptied = sockets.withLockedValue { sockets in
            sockets.removeValue(forKey: socket.id) != nil && sockets.isEmpty
        }
        adapter.deleteAll(socket.id)
        if emptied, parent != nil, server.configuration.cleanupEmptyChildNamespaces {
            server.removeChild(self)
        }
    }
}
