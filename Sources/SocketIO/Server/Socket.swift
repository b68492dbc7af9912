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

    private struct State {
        var handlers: [String: [EventHandler]] = [:]
        var anyHandlers: [EventHandler] = []
        var disconnectHandlers: [DisconnectHandler] = []
        var acks: [Int: @Sendable ([JSONValue]) -> Void] = [:]
        var connected = false
        /// Disconnected by the server on purpose: not kept for recovery, whatever closes it.
        var dismissed = false
        var data: JSONValue = .object([])
        /// While a recovered socket's missed events are being replayed: what is sent to it
        /// meanwhile, with each event's offset, sent after the replay (see ``hold()``).
        var held: [(messages: PreparedMessages, volatile: Bool, offset: String?)]?
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

    // MARK: Handlers

    /// Handles a client event. Handlers of one connection run one at a time, in arrival order.
    public func on(_ event: String, _ handler: @escaping EventHandler) {
        state.withLockedValue { $0.handlers[event, default: []].append(handler) }
    }

    /// Handles every client event, before the event's own handlers.
    public func onAny(_ handler: @escaping EventHandler) {
        state.withLockedValue { $0.anyHandlers.append(handler) }
    }

    public func onDisconnect(_ handler: @escaping DisconnectHandler) {
        state.withLockedValue { $0.disconnectHandlers.append(handler) }
    }

    // MARK: State

    public var isConnected: Bool { state.withLockedValue { $0.connected } }

    /// Application data kept with the socket (shared with the cluster by `fetchSockets`).
    public var data: JSONValue {
        get { state.withLockedValue { $0.data } }
        set { state.withLockedValue { $0.data = newValue } }
    }

    public var rooms: Set<String> { namespace.adapter.socketRooms(id) ?? [] }

    public func join(_ rooms: String...) { join(Set(rooms)) }

    public func join(_ rooms: Set<String>) {
        guard isConnected else { return }
        namespace.adapter.addAll(id, rooms: rooms)
    }

    public func leave(_ room: String) {
        namespace.adapter.delete(id, room: room)
    }

    var descriptor: SocketDescriptor {
        SocketDescriptor(
            id: id,
            rooms: rooms,
            data: data,
            handshakeAuth: handshake.auth,
            handshakeQuery: handshake.query,
            address: handshake.address
        )
    }

    // MARK: Emitting

    public func emit(_ event: String, _ args: JSONValue...) {
        emit(event, args: args)
    }

    public func emit(_ event: String, args: [JSONValue]) {
        guard isConnected else { return }
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name)
        if pid != nil {
            // As Node with recovery on: through the adapter to the socket's own room, so the event
            // gets an offset and can be replayed.
            namespace.adapter.broadcast(packet, options: BroadcastOptions(rooms: [id]))
        } else {
            client.send(packet)
        }
    }

    /// Emits and waits for the client's acknowledgement.
    public func emitWithAck(_ event: String, _ args: JSONValue..., timeout: Duration = .seconds(10)) async throws(SocketIOError) -> [JSONValue] {
        try await emitWithAck(event, args: args, timeout: timeout)
    }

    public func emitWithAck(_ event: String, args: [JSONValue], timeout: Duration = .seconds(10)) async throws(SocketIOError) -> [JSONValue] {
        guard isConnected else { throw .disconnected }
        let id = AckID.next()
        let result: Result<[JSONValue], SocketIOError> = await withCheckedContinuation { continuation in
            let once = NIOLockedValueBox(false)
            let finish: @Sendable (Result<[JSONValue], SocketIOError>) -> Void = { result in
                let first = once.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: result) }
            }
            // The timer is left to fire even after the ack (cancelling NIO timers is costly);
            // `finish` resumes only once.
            client.session.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [weak self] in
                self?.state.withLockedValue { _ = $0.acks.removeValue(forKey: id) }
                finish(.failure(.ackTimeout))
            }
            registerAck(id) { args in finish(.success(args)) }
            client.send(SocketIOPacket.event(event, args, namespace: namespace.name, id: id))
        }
        return try result.get()
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

    // MARK: From the client

    func registerAck(_ id: Int, _ callback: @escaping @Sendable ([JSONValue]) -> Void) {
        state.withLockedValue { $0.acks[id] = callback }
    }

    /// `offset` is the event's recovery offset, when it has one.
    func sendEncoded(_ messages: PreparedMessages, volatile: Bool = false, offset: String? = nil) {
        let kept = state.withLockedValue { state -> Bool in
            guard state.held != nil else { return false }
            state.held?.append((messages, volatile, offset))
            return true
        }
        guard !kept, isConnected else { return }
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
            guard state.connected else { return }
            for entry in held where entry.offset.map({ !replayed.contains($0) }) ?? true {
                client.session.send(entry.messages, volatile: entry.volatile)
            }
        }
    }

    func connected() {
        state.withLockedValue { $0.connected = true }
    }

    func receiveAck(_ packet: SocketIOPacket) {
        guard let id = packet.id else { return }
        let callback = state.withLockedValue { $0.acks.removeValue(forKey: id) }
        callback?(packet.data?.arrayValue ?? [])
    }

    func dispatch(_ packet: SocketIOPacket, receivedAt: Date) async {
        guard isConnected, var args = packet.data?.arrayValue, !args.isEmpty else { return }
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
        let event = SocketEvent(name: name, args: args, ack: ack, socket: self, receivedAt: receivedAt)
        let (anyHandlers, handlers) = state.withLockedValue { ($0.anyHandlers, $0.handlers[name] ?? []) }
        for handler in anyHandlers { await handler(event) }
        for handler in handlers { await handler(event) }
    }

    /// The reasons a dropped connection's socket is kept for recovery: the connection was lost or
    /// closed under it, not left on purpose.
    static let keptAfter: Set<DisconnectReason> = [.transportClose, .transportError, .pingTimeout, .forcedClose, .serverShuttingDown, .forcedServerClose]

    /// Leaves the namespace for good and runs the disconnect handlers once.
    func closed(_ reason: DisconnectReason) async {
        let closing: (handlers: [DisconnectHandler], dismissed: Bool)? = state.withLockedValue { state in
            guard state.connected else { return nil }
            state.connected = false
            state.acks.removeAll()
            return (state.disconnectHandlers, state.dismissed)
        }
        guard let (handlers, dismissed) = closing else { return }
        if let pid, !dismissed, Self.keptAfter.contains(reason) {
            namespace.adapter.persistSession(RecoverableSession(id: id, pid: pid, rooms: rooms, data: data))
        }
        namespace.remove(self)
        client.forget(self)
        for handler in handlers { await handler(reason) }
    }
}
