import Foundation
import EngineIO
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One Engine.IO connection seen from Socket.IO: decodes packets, connects namespaces, and runs
/// the handlers of all its sockets one at a time, in arrival order.
final class Client: Sendable {
    let session: EngineSession
    let server: SocketIOServer

    private struct State {
        var decoder: any SocketIOPacketDecoding
        var sockets: [String: Socket] = [:]
        var connecting: Set<String> = []
        var closed = false
        var everConnected = false
    }

    private let state: NIOLockedValueBox<State>
    /// The session's event loop, where the connection's handlers run.
    private let executor: EventLoopTaskExecutor
    private let mailbox: SerialMailbox
    /// What the connect deadline calls back; let go when the connection closes.
    private let deadlineTarget = CallbackTarget<Client>()

    init(session: EngineSession, server: SocketIOServer) {
        self.session = session
        self.server = server
        self.executor = EventLoopTaskExecutor.of(session.eventLoop)
        self.mailbox = SerialMailbox(executor: executor)
        self.state = NIOLockedValueBox(State(decoder: server.configuration.parser.makeDecoder(maxPayload: server.configuration.engine.maxPayload)))
    }

    func start(connectTimeout: Duration) {
        // Not cancelled when a namespace connects (cancelling NIO timers is costly): it checks.
        deadlineTarget.set(self)
        _ = try? session.eventLoop.scheduleCallback(in: TimeAmount(connectTimeout), handler: ConnectDeadline(target: deadlineTarget))
        session.setHandlers(
            onMessage: { [self] message in self.receive(message) },
            onClose: { [self] reason in self.engineClosed(reason) }
        )
    }

    /// Closes a connection that connected no namespace in time.
    fileprivate func connectDeadlinePassed() {
        let idle = state.withLockedValue { $0.sockets.isEmpty && $0.connecting.isEmpty && !$0.everConnected }
        if idle { session.close(reason: .serverClose) }
    }

    func enqueue(_ job: @escaping @Sendable () async -> Void) {
        let server = self.server
        server.handlerStarted()
        mailbox.enqueue {
            await job()
            server.handlerFinished()
        }
    }

    /// Closes the connection with a `close` packet once the handlers queued so far have run, so
    /// that their acks and emits go out before it.
    func closeAfterQueuedHandlers(reason: EngineCloseReason) {
        enqueue { self.session.close(reason: reason) }
    }

    func send(_ packet: SocketIOPacket) {
        session.send(server.configuration.parser.encode(packet))
    }

    func forget(_ socket: Socket) {
        state.withLockedValue { state in
            if state.sockets[socket.namespace.name] === socket {
                state.sockets.removeValue(forKey: socket.namespace.name)
            }
        }
    }

    // MARK: Inbound

    private func receive(_ message: EngineMessage) {
        let decoded: Result<SocketIOPacket?, SocketIODecodingError> = state.withLockedValue { state in
            Result { () throws(SocketIODecodingError) in try state.decoder.decode(message) }
        }
        switch decoded {
        case .failure(let error):
            server.logger.debug("closing connection on bad packet", metadata: ["sid": "\(session.logID)", "error": "\(error)"])
            session.close(reason: .parseError)
        case .success(nil):
            break
        case .success(.some(let packet)):
            route(packet)
        }
    }

    private func route(_ packet: SocketIOPacket) {
        switch packet.type {
        case .ack, .binaryAck:
            // Acks bypass the queue: a handler may be waiting for exactly this one.
            socket(for: packet.namespace)?.receiveAck(packet)
        case .connect:
            state.withLockedValue { _ = $0.connecting.insert(packet.namespace) }
            enqueue { await self.connect(packet.namespace, auth: packet.data ?? .object([])) }
        case .disconnect:
            enqueue { await self.socket(for: packet.namespace)?.closed(.clientNamespaceDisconnect) }
        case .event, .binaryEvent:
            let receivedAt = Date()
            enqueue {
                guard let socket = self.socket(for: packet.namespace), let event = socket.event(from: packet, receivedAt: receivedAt) else { return }
                switch self.server.configuration.eventHandling {
                case .serial:
                    await socket.dispatch(event)
                case .concurrent:
                    // Looked up in arrival order (after the CONNECT before it), then run beside
                    // the connection's other handlers, as Node interleaves them.
                    let server = self.server
                    server.handlerStarted()
                    Task(executorPreference: self.executor) {
                        await socket.dispatch(event)
                        server.handlerFinished()
                    }
                }
            }
        case .connectError:
            // Only servers send CONNECT_ERROR.
            session.close(reason: .parseError)
        }
    }

    private func socket(for namespace: String) -> Socket? {
        state.withLockedValue { $0.sockets[namespace] }
    }

    private func connect(_ name: String, auth: JSONValue) async {
        defer {
            state.withLockedValue { state in
                state.connecting.remove(name)
                // An emptied set keeps its storage; a connection that is done connecting drops it.
                if state.connecting.isEmpty { state.connecting = [] }
            }
        }
        guard let namespace = await server.namespace(connecting: name, auth: auth) else {
            send(SocketIOPacket(type: .connectError, namespace: name, data: ["message": "Invalid namespace"]))
            return
        }
        if let existing = socket(for: name) {
            send(SocketIOPacket(type: .connect, namespace: name, data: ["sid": .string(existing.id)]))
            return
        }
        var restored: RestoredSession?
        if namespace.adapter.recoversConnections, let pid = auth["pid"]?.stringValue, let offset = auth["offset"]?.stringValue {
            // Unknown, expired or forged: nil, and a new socket like any other.
            restored = await namespace.adapter.restoreSession(pid: pid, offset: offset)
        }
        var socket = Socket(namespace: namespace, client: self, auth: auth, restoring: restored?.session)
        if let kept = restored?.session, let vet = server.configuration.connectionStateRecovery?.shouldRestore,
            await !vet(socket.handshake, kept)
        {
            server.logger.info("socket not restored: refused by shouldRestore", metadata: ["namespace": "\(name)"])
            restored = nil
            socket = Socket(namespace: namespace, client: self, auth: auth)
        }
        var replayed: Set<String> = []
        if let restored {
            namespace.adapter.addAll(socket.id, rooms: restored.session.rooms)
            socket.data = restored.session.data
            // Reachable now, so what is broadcast from here on is held for it; what was broadcast
            // after the restore read its missed events and before this is asked for once more.
            socket.hold()
            namespace.add(socket)
            var missed = restored.missedPackets
            replayed = Set(missed.compactMap { $0.last?.stringValue })
            let since = missed.last?.last?.stringValue ?? (auth["offset"]?.stringValue ?? "")
            for data in await namespace.adapter.missedPackets(after: since, rooms: restored.session.rooms) {
                guard let offset = data.last?.stringValue, replayed.insert(offset).inserted else { continue }
                missed.append(data)
            }
            // The missed events first, the CONNECT reply after them (Node's order).
            for data in missed {
                send(SocketIOPacket(type: .event, namespace: name, data: .array(data)))
            }
        }
        do {
            if !(socket.recovered && server.configuration.connectionStateRecovery?.skipMiddlewares == true) {
                try await namespace.runMiddleware(socket)
            }
        } catch {
            socket.refuse()
            if socket.recovered { namespace.remove(socket) }
            let payload = (error as? ConnectionRefusal)?.payload ?? ["message": .string("\(error)")]
            send(SocketIOPacket(type: .connectError, namespace: name, data: payload))
            return
        }
        let accepted = state.withLockedValue { state in
            guard !state.closed else { return false }
            state.everConnected = true
            state.sockets[name] = socket
            return true
        }
        guard accepted else {
            socket.refuse()
            if socket.recovered { namespace.remove(socket) }
            return
        }
        let early = socket.accept()
        if !early.rooms.isEmpty { namespace.adapter.addAll(socket.id, rooms: early.rooms) }
        namespace.add(socket)
        var reply = [JSONMember(key: "sid", value: .string(socket.id))]
        if let pid = socket.pid { reply.append(JSONMember(key: "pid", value: .string(pid))) }
        send(SocketIOPacket(type: .connect, namespace: name, data: .object(reply)))
        // What middleware emitted goes right after the reply, before anything the connection
        // handlers send.
        for packet in early.packets { send(packet) }
        if socket.recovered { socket.release(skipping: replayed) }
        await namespace.runConnectionHandlers(socket)
    }

    private func engineClosed(_ reason: EngineCloseReason) {
        deadlineTarget.release()
        let sockets = state.withLockedValue { state in
            state.closed = true
            return Array(state.sockets.values)
        }
        server.clientClosed(self)
        let disconnectReason = DisconnectReason(reason)
        enqueue {
            for socket in sockets { await socket.closed(disconnectReason) }
        }
    }
}

/// The connect timeout of one connection, scheduled as an event-loop callback (no allocation).
private struct ConnectDeadline: NIOScheduledCallbackHandler, Sendable {
    let target: CallbackTarget<Client>

    func handleScheduledCallback(eventLoop: some EventLoop) {
        target.object?.connectDeadlinePassed()
    }
}
