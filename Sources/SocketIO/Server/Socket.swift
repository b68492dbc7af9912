import EngineIO
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// An event a client emitted, with its acknowledgement when the client asked for one.
public struct SocketEvent: Sendable {
    public let name: String
    public let args: [JSONValue]
    public let ack: Acknowledgement?
    public let socket: Socket
    /// When the packet arrived, before it waited for the handlers queued ahead of it: what a
    /// rate limit should judge it by.
    public let receivedAt: Date
}

/// Answers one client event, at most once.
public struct Acknowledgement: Sendable {
    private let sent = NIOLockedValueBox(false)
    private let send: @Sendable ([JSONValue]) -> Void

    init(send: @escaping @Sendable ([JSONValue]) -> Void) {
        self.send = send
    }

    public func callAsFunction(_ args: JSONValue...) {
        callAsFunction(args: args)
    }

    public func callAsFunction(args: [JSONValue]) {
        let first = sent.withLockedValue { sent in
            defer { sent = true }
            return !sent
        }
        if first { send(args) }
    }
}

/// One client's connection to one namespace.
public final class Socket: Sendable {
    public typealias EventHandler = @Sendable (SocketEvent) async -> Void
    public typealias DisconnectHandler = @Sendable (DisconnectReason) async -> Void
    /// Sees each event sent to this client (its name and arguments) as it is sent, broadcasts
    /// included (Node's `onAnyOutgoing`).
    public typealias OutgoingHandler = @Sendable (_ event: String, _ args: [JSONValue]) -> Void
    /// Runs before an event's handlers (Node's `socket.use`); throwing refuses the event.
    public typealias PacketMiddleware = @Sendable (SocketEvent) async throws -> Void
    public typealias ErrorHandler = @Sendable (any Error) async -> Void
    /// The answer to an event this server emitted with an ack: the client's arguments, or why none came.
    public typealias AckResult = Result<[JSONValue], SocketIOError>

    /// The socket id: random, distinct from the Engine.IO session id. Never an identity.
    public let id: String
    /// The private session id (connection state recovery): sent to this client only, in the
    /// CONNECT reply; nil when recovery is off.
    public let pid: String?
    /// This socket is one that dropped and came back, with its id, rooms and data.
    public let recovered: Bool
    public let namespace: Namespace
    public let handshake: Handshake
    let client: Client
    /// The transport the connection uses now (nil once it closed).
    public var transport: EngineTransport? { client.session.transport }
    /// The Engine.IO connection under this socket (Node's `socket.conn`), shared by the
    /// client's sockets of every namespace.
    public var conn: EngineSession { client.session }

    private enum Phase {
        /// Namespace middleware is running: joins and emits wait for the CONNECT reply.
        case connecting
        case connected
        /// `disconnecting` handlers are running: rooms are still known, nothing is sent.
        case closing
        case closed
    }

    /// What middleware joined and emitted before the socket was accepted.
    struct EarlyWork {
        var rooms: Set<String> = []
        var packets: [SocketIOPacket] = []
    }

    private struct State {
        var handlers: [String: [Registered<EventHandler>]] = [:]
        var anyHandlers: [Registered<EventHandler>] = []
        var outgoingHandlers: [Registered<OutgoingHandler>] = []
        var middleware: [PacketMiddleware] = []
        var errorHandlers: [Registered<ErrorHandler>] = []
        var disconnectingHandlers: [Registered<DisconnectHandler>] = []
        var disconnectHandlers: [Registered<DisconnectHandler>] = []
        var acks: [Int: @Sendable (AckResult) -> Void] = [:]
        var phase = Phase.connecting
        var early: EarlyWork?
        /// Disconnected by the server on purpose: not kept for recovery, whatever closes it.
        var dismissed = false
        var data: JSONValue = .object([])
        /// While a recovered socket's missed events are being replayed: what is sent to it
        /// meanwhile, with each event's offset, sent after the replay (see ``hold()``).
        var held: [(messages: PreparedMessages, volatile: Bool, offset: String?)]?

        /// Every handler and middleware, once the socket is gone.
        mutating func dropListeners() {
            handlers = [:]
            anyHandlers = []
            outgoingHandlers = []
            middleware = []
            errorHandlers = []
            disconnectingHandlers = []
            disconnectHandlers = []
        }
    }

    private let state = NIOLockedValueBox(State())

    init(namespace: Namespace, client: Client, auth: JSONValue, restoring: RecoverableSession? = nil) {
        self.id = restoring?.id ?? SessionID.make()
        self.pid = namespace.adapter.recoversConnections ? (restoring?.pid ?? SessionID.make()) : nil
        self.recovered = restoring != nil
        self.namespace = namespace
        self.client = client
        self.handshake = Handshake(
            request: client.session.request,
            auth: auth,
            attachments: client.session.attachments,
            time: Date()
        )
    }

    // MARK: Listeners

    /// Handles a client event. By default a connection's handlers run one at a time, in arrival
    /// order (see ``SocketIOConfiguration/eventHandling``).
    @discardableResult
    public func on(_ event: String, _ handler: @escaping EventHandler) -> Listener {
        add(handler, for: event, once: false)
    }

    /// Handles the next such event only.
    @discardableResult
    public func once(_ event: String, _ handler: @escaping EventHandler) -> Listener {
        add(handler, for: event, once: true)
    }

    private func add(_ handler: @escaping EventHandler, for event: String, once: Bool) -> Listener {
        let entry = Registered(handler, once: once)
        state.withLockedValue { $0.handlers[event, default: []].append(entry) }
        return entry.listener
    }

    private func register<Handler>(_ handler: Handler, in list: WritableKeyPath<State, [Registered<Handler>]>, first: Bool = false) -> Listener {
        let entry = Registered(handler)
        state.withLockedValue { state in
            if first { state[keyPath: list].insert(entry, at: 0) } else { state[keyPath: list].append(entry) }
        }
        return entry.listener
    }

    /// Handles every client event, before the packet middleware and the event's own handlers
    /// (Node's order: a refused event is still seen here).
    @discardableResult
    public func onAny(_ handler: @escaping EventHandler) -> Listener {
        register(handler, in: \.anyHandlers)
    }

    /// Like ``onAny(_:)``, ahead of the catch-all handlers added so far.
    @discardableResult
    public func prependAny(_ handler: @escaping EventHandler) -> Listener {
        register(handler, in: \.anyHandlers, first: true)
    }

    @discardableResult
    public func onAnyOutgoing(_ handler: @escaping OutgoingHandler) -> Listener {
        register(handler, in: \.outgoingHandlers)
    }

    @discardableResult
    public func prependAnyOutgoing(_ handler: @escaping OutgoingHandler) -> Listener {
        register(handler, in: \.outgoingHandlers, first: true)
    }

    /// Runs when the socket is about to leave: its rooms are still known (Node's `disconnecting`).
    @discardableResult
    public func onDisconnecting(_ handler: @escaping DisconnectHandler) -> Listener {
        register(handler, in: \.disconnectingHandlers)
    }

    /// Runs once the socket left its namespace and rooms.
    @discardableResult
    public func onDisconnect(_ handler: @escaping DisconnectHandler) -> Listener {
        register(handler, in: \.disconnectHandlers)
    }

    /// Gets what packet middleware threw (Node's `error` event of a socket). With none, the
    /// client gets an `error` event instead.
    @discardableResult
    public func onError(_ handler: @escaping ErrorHandler) -> Listener {
        register(handler, in: \.errorHandlers)
    }

    /// Adds a packet middleware, run in order for each client event before its handlers.
    public func use(_ middleware: @escaping PacketMiddleware) {
        state.withLockedValue { $0.middleware.append(middleware) }
    }

    /// Removes one listener, whatever it listens to.
    public func off(_ listener: Listener) {
        state.withLockedValue { state in
            for event in state.handlers.keys where state.handlers[event]!.remove(listener) {
                if state.handlers[event]!.isEmpty { state.handlers[event] = nil }
                return
            }
            _ =
                state.anyHandlers.remove(listener) || state.outgoingHandlers.remove(listener)
                || state.disconnectingHandlers.remove(listener) || state.disconnectHandlers.remove(listener)
                || state.errorHandlers.remove(listener)
        }
    }

    /// Node's `off(event, listener)`.
    public func off(_ event: String, _ listener: Listener) {
        off(listener)
    }

    /// Removes the catch-all handler, or all of them (Node's `offAny`).
    public func offAny(_ listener: Listener? = nil) {
        state.withLockedValue { state in
            if let listener { _ = state.anyHandlers.remove(listener) } else { state.anyHandlers = [] }
        }
    }

    public func offAnyOutgoing(_ listener: Listener? = nil) {
        state.withLockedValue { state in
            if let listener { _ = state.outgoingHandlers.remove(listener) } else { state.outgoingHandlers = [] }
        }
    }

    /// Removes every listener of `event` (`"disconnect"`, `"disconnecting"` and `"error"` name
    /// those handlers), or with nil every listener of every kind; packet middleware stays.
    public func removeAllListeners(_ event: String? = nil) {
        state.withLockedValue { state in
            switch event {
            case nil:
                state.handlers = [:]
                state.anyHandlers = []
                state.outgoingHandlers = []
                state.disconnectingHandlers = []
                state.disconnectHandlers = []
                state.errorHandlers = []
            case "disconnect": state.disconnectHandlers = []
            case "disconnecting": state.disconnectingHandlers = []
            case "error": state.errorHandlers = []
            case let name?: state.handlers[name] = nil
            }
        }
    }

    /// How many handlers `event` has now (Node's `listenerCount`).
    public func listenerCount(_ event: String) -> Int {
        state.withLockedValue { state in
            switch event {
            case "disconnect": state.disconnectHandlers.count
            case "disconnecting": state.disconnectingHandlers.count
            case "error": state.errorHandlers.count
            default: state.handlers[event]?.count ?? 0
            }
        }
    }

    // MARK: State

    public var isConnected: Bool { state.withLockedValue { $0.phase == .connected } }

    /// Application data kept with the socket (shared with the cluster by `fetchSockets`).
    public var data: JSONValue {
        get { state.withLockedValue { $0.data } }
        set { state.withLockedValue { $0.data = newValue } }
    }

    /// The rooms of the socket, those joined by namespace middleware included.
    public var rooms: Set<String> {
        let early = state.withLockedValue { $0.phase == .connecting ? $0.early?.rooms : nil }
        let joined = namespace.adapter.socketRooms(id) ?? []
        return early.map { joined.union($0) } ?? joined
    }

    public func join(_ rooms: String...) { join(Set(rooms)) }

    /// Joins rooms; in namespace middleware, the rooms are joined as the socket is accepted.
    public func join(_ rooms: Set<String>) {
        let now = state.withLockedValue { state -> Bool in
            guard state.phase == .connecting else { return state.phase == .connected }
            state.early = state.early ?? EarlyWork()
            state.early!.rooms.formUnion(rooms)
            return false
        }
        if now { namespace.adapter.addAll(id, rooms: rooms) }
    }

    public func leave(_ room: String) {
        state.withLockedValue { state in
            if state.phase == .connecting { _ = state.early?.rooms.remove(room) }
        }
        namespace.adapter.delete(id, room: room)
    }

    var descriptor: SocketDescriptor {
        SocketDescriptor(
            id: id,
            rooms: rooms,
            data: data,
            handshakeAuth: handshake.auth,
            handshakeQuery: handshake.query,
            handshakeHeaders: Dictionary(handshake.nodeHeaders, uniquingKeysWith: { first, _ in first }),
            address: handshake.address
        )
    }

    // MARK: Emitting

    /// Sends an event to this client. In namespace middleware it is sent right after the
    /// CONNECT reply; once the socket left, it is dropped.
    public func emit(_ event: String, _ args: JSONValue...) {
        emit(event, args: args)
    }

    public func emit(_ event: String, args: [JSONValue]) {
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name)
        if pid != nil, isConnected {
            // As Node with recovery on: through the adapter to the socket's own room, so the event
            // gets an offset and can be replayed.
            namespace.adapter.broadcast(packet, options: BroadcastOptions(rooms: [id]))
        } else {
            deliver(packet)
        }
    }

    /// Emits with an acknowledgement: `ack` is called once, with the client's answer, with
    /// ``SocketIOError/ackTimeout`` once `timeout` passed (nil: no limit, as Node without
    /// `timeout()`), or with ``SocketIOError/disconnected`` as soon as the socket leaves.
    public func emit(_ event: String, args: [JSONValue], timeout: Duration? = nil, ack: @escaping @Sendable (AckResult) -> Void) {
        let id = AckID.next()
        let once = NIOLockedValueBox(false)
        let finish: @Sendable (AckResult) -> Void = { result in
            let first = once.withLockedValue { done in
                defer { done = true }
                return !done
            }
            if first { ack(result) }
        }
        let registered = state.withLockedValue { state -> Bool in
            guard state.phase == .connecting || state.phase == .connected else { return false }
            state.acks[id] = finish
            return true
        }
        guard registered else { return finish(.failure(.disconnected)) }
        if let timeout {
            // The timer is left to fire even after the ack (cancelling NIO timers is costly);
            // `finish` answers only once.
            client.session.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
                self?.state.withLockedValue { _ = $0.acks.removeValue(forKey: id) }
                finish(.failure(.ackTimeout))
            }
        }
        deliver(SocketIOPacket.event(event, args, namespace: namespace.name, id: id))
    }

    /// Emits and waits for the client's acknowledgement; a disconnect ends the wait at once
    /// with ``SocketIOError/disconnected``.
    public func emitWithAck(_ event: String, _ args: JSONValue..., timeout: Duration = .seconds(10)) async throws(SocketIOError) -> [JSONValue] {
        try await emitWithAck(event, args: args, timeout: timeout)
    }

    public func emitWithAck(_ event: String, args: [JSONValue], timeout: Duration? = .seconds(10)) async throws(SocketIOError) -> [JSONValue] {
        let result: AckResult = await withCheckedContinuation { continuation in
            emit(event, args: args, timeout: timeout) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// The next acknowledged emit waits at most `duration` (Node's `socket.timeout(ms)`).
    public func timeout(_ duration: Duration) -> TimedSocket {
        TimedSocket(socket: self, timeout: duration)
    }

    /// Emits to the given rooms, leaving this socket out.
    public func to(_ rooms: String...) -> BroadcastOperator {
        BroadcastOperator(namespace: namespace).to(rooms).except([id])
    }

    /// Emits to every other socket of the namespace.
    public var broadcast: BroadcastOperator {
        BroadcastOperator(namespace: namespace).except([id])
    }

    /// Leaves the namespace; with `close`, closes the whole connection.
    public func disconnect(close: Bool = false) {
        state.withLockedValue { $0.dismissed = true }
        if close {
            client.session.close(reason: .serverClose)
            return
        }
        guard isConnected else { return }
        client.send(SocketIOPacket(type: .disconnect, namespace: namespace.name))
        client.enqueue { await self.closed(.serverNamespaceDisconnect) }
    }

    /// Sends one packet of this socket's own: queued while connecting, dropped once closing.
    private func deliver(_ packet: SocketIOPacket) {
        let (phase, outgoing) = state.withLockedValue { state in
            if state.phase == .connecting {
                state.early = state.early ?? EarlyWork()
                state.early!.packets.append(packet)
            }
            return (state.phase, state.outgoingHandlers)
        }
        guard phase == .connecting || phase == .connected else { return }
        notify(outgoing, of: packet)
        if phase == .connected { client.send(packet) }
    }

    private func notify(_ listeners: [Registered<OutgoingHandler>], of packet: SocketIOPacket) {
        guard !listeners.isEmpty, var args = packet.data?.arrayValue, let name = args.first?.stringValue else { return }
        args.removeFirst()
        for listener in listeners { listener.handler(name, args) }
    }

    // MARK: From the client

    /// Registers the answer to a broadcast's ack request (a disconnect leaves it unanswered).
    func registerAck(_ id: Int, _ callback: @escaping @Sendable ([JSONValue]) -> Void) {
        state.withLockedValue { state in
            state.acks[id] = { result in
                if case .success(let args) = result { callback(args) }
            }
        }
    }

    /// `packet` is what `messages` encode, for the outgoing listeners; `offset` is the event's
    /// recovery offset, when it has one.
    func sendEncoded(_ messages: PreparedMessages, packet: SocketIOPacket? = nil, volatile: Bool = false, offset: String? = nil) {
        let (kept, connected, outgoing) = state.withLockedValue { state in
            if state.held != nil { state.held?.append((messages, volatile, offset)) }
            return (state.held != nil, state.phase == .connected, state.outgoingHandlers)
        }
        if let packet { notify(outgoing, of: packet) }
        guard !kept, connected else { return }
        client.session.send(messages, volatile: volatile)
    }

    /// A recovered socket is reachable before its missed events are replayed (so nothing
    /// broadcast in between passes it by); what reaches it meanwhile waits for ``release(skipping:)``.
    func hold() {
        state.withLockedValue { $0.held = [] }
    }

    /// Sends what was held, in order, except the events whose offsets the replay already sent.
    func release(skipping replayed: Set<String>) {
        state.withLockedValue { state in
            // Under the lock, so nothing sent from now on overtakes what was held.
            let held = state.held ?? []
            state.held = nil
            guard state.phase == .connected else { return }
            for entry in held where entry.offset.map({ !replayed.contains($0) }) ?? true {
                client.session.send(entry.messages, volatile: entry.volatile)
            }
        }
    }

    /// Accepted: returns what namespace middleware joined and emitted meanwhile, for the client
    /// to apply around the CONNECT reply.
    func accept() -> EarlyWork {
        state.withLockedValue { state in
            state.phase = .connected
            defer { state.early = nil }
            return state.early ?? EarlyWork()
        }
    }

    /// Refused by namespace middleware (or the connection closed first): waits for acks end.
    func refuse() {
        let acks = state.withLockedValue { state in
            state.phase = .closed
            state.early = nil
            state.dropListeners()
            defer { state.acks = [:] }
            return state.acks
        }
        for ack in acks.values { ack(.failure(.disconnected)) }
    }

    func receiveAck(_ packet: SocketIOPacket) {
        guard let id = packet.id else { return }
        let callback = state.withLockedValue { $0.acks.removeValue(forKey: id) }
        callback?(.success(packet.data?.arrayValue ?? []))
    }

    /// The event a packet carries, or nil when this socket takes no more events.
    func event(from packet: SocketIOPacket, receivedAt: Date) -> SocketEvent? {
        guard isConnected, var args = packet.data?.arrayValue, !args.isEmpty else { return nil }
        let nameValue = args.removeFirst()
        let name = nameValue.stringValue ?? nameValue.numberValue.map { JSONValue.format($0) } ?? ""
        var ack: Acknowledgement?
        if let id = packet.id {
            let namespaceName = namespace.name
            let client = self.client
            ack = Acknowledgement { args in
                client.send(SocketIOPacket.ack(args, namespace: namespaceName, id: id))
            }
        }
        return SocketEvent(name: name, args: args, ack: ack, socket: self, receivedAt: receivedAt)
    }

    /// Runs the catch-all handlers, the packet middleware and the event's handlers.
    func dispatch(_ event: SocketEvent) async {
        let (anyHandlers, middleware, handlers) = state.withLockedValue { state in
            (state.anyHandlers.take(), state.middleware, state.handlers[event.name]?.take() ?? [])
        }
        for handler in anyHandlers { await handler.handler(event) }
        for step in middleware {
            do {
                try await step(event)
            } catch {
                await refused(error)
                return
            }
        }
        for handler in handlers { await handler.handler(event) }
    }

    private func refused(_ error: any Error) async {
        let handlers = state.withLockedValue { $0.errorHandlers.take() }
        guard !handlers.isEmpty else { return emit("error", PacketRefusal.payload(for: error)) }
        for handler in handlers { await handler.handler(error) }
    }

    /// The reasons a dropped connection's socket is kept for recovery: the connection was lost or
    /// closed under it, not left on purpose.
    static let keptAfter: Set<DisconnectReason> = [.transportClose, .transportError, .pingTimeout, .forcedClose, .serverShuttingDown, .forcedServerClose]

    /// Leaves the namespace for good: waits for acks end at once, the disconnecting handlers
    /// run with the rooms still known, then the rooms are left and the disconnect handlers run.
    func closed(_ reason: DisconnectReason) async {
        let closing = state.withLockedValue { state -> (disconnecting: [Registered<DisconnectHandler>], acks: [@Sendable (AckResult) -> Void], dismissed: Bool)? in
            guard state.phase == .connected else { return nil }
            state.phase = .closing
            defer { state.acks = [:] }
            return (state.disconnectingHandlers.take(), Array(state.acks.values), state.dismissed)
        }
        guard let closing else { return }
        for ack in closing.acks { ack(.failure(.disconnected)) }
        for handler in closing.disconnecting { await handler.handler(reason) }
        if let pid, !closing.dismissed, Self.keptAfter.contains(reason) {
            namespace.adapter.persistSession(RecoverableSession(id: id, pid: pid, rooms: rooms, data: data))
        }
        namespace.remove(self)
        client.forget(self)
        let handlers = state.withLockedValue { state in
            state.phase = .closed
            return state.disconnectHandlers.take()
        }
        for handler in handlers { await handler.handler(reason) }
        // Handlers often capture their socket: dropping them ends that cycle.
        state.withLockedValue { $0.dropListeners() }
    }
}

/// A socket whose next acknowledged emit has a deadline (``Socket/timeout(_:)``).
public struct TimedSocket: Sendable {
    public let socket: Socket
    public let timeout: Duration

    /// Waits for the acknowledgement; ``SocketIOError/ackTimeout`` past the deadline.
    public func emitWithAck(_ event: String, _ args: JSONValue...) async throws(SocketIOError) -> [JSONValue] {
        try await socket.emitWithAck(event, args: args, timeout: timeout)
    }

    public func emitWithAck(_ event: String, args: [JSONValue]) async throws(SocketIOError) -> [JSONValue] {
        try await socket.emitWithAck(event, args: args, timeout: timeout)
    }

    /// The callback form (Node's `socket.timeout(ms).emit(event, ...args, (err, ...answer) => …)`).
    public func emit(_ event: String, args: [JSONValue], ack: @escaping @Sendable (Socket.AckResult) -> Void) {
        socket.emit(event, args: args, timeout: timeout, ack: ack)
    }
}
