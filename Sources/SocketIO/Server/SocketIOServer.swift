import EngineIO
import Logging
import NIOConcurrencyHelpers

/// Settings of a Socket.IO server.
public struct SocketIOConfiguration: Sendable {
    /// Transport settings; the path defaults to `/socket.io/`.
    public var engine: EngineConfiguration
    /// A connection that joins no namespace within this time is closed.
    public var connectTimeout: Duration
    /// Makes the adapter of each namespace; the in-process adapter by default (which recovers
    /// connections when ``connectionStateRecovery`` is set).
    public var adapterFactory: @Sendable (Namespace) -> any Adapter
    /// Connection state recovery (Node's `connectionStateRecovery`); off when nil. Only the
    /// in-process adapter keeps what it needs.
    public var connectionStateRecovery: ConnectionStateRecovery?

    public init(
        engine: EngineConfiguration = EngineConfiguration(path: "/socket.io/"),
        connectTimeout: Duration = .seconds(45),
        connectionStateRecovery: ConnectionStateRecovery? = nil,
        adapterFactory: @escaping @Sendable (Namespace) -> any Adapter = {
            InMemoryAdapter(namespace: $0, recovery: $0.server.configuration.connectionStateRecovery)
        }
    ) {
        self.engine = engine
        self.connectTimeout = connectTimeout
        self.connectionStateRecovery = connectionStateRecovery
        self.adapterFactory = adapterFactory
    }
}

/// A Socket.IO v5 server on top of an ``EngineServer``.
///
/// ```swift
/// let io = SocketIOServer(configuration: .init())
/// io.of("/").onConnection { socket in
///     socket.on("ping") { event in event.ack?("pong") }
/// }
/// let app = Application(router: router, server: .engineIO(io.engine))
/// ```
public final class SocketIOServer: Sendable {
    public let engine: EngineServer
    public let configuration: SocketIOConfiguration
    let logger: Logger
    private let namespaces = NIOLockedValueBox<[String: Namespace]>([:])
    private let runningHandlers = NIOLockedValueBox(0)
    /// Open connections by Engine.IO session id, for shutdown.
    private let clients = NIOLockedValueBox<[String: Client]>([:])

    public init(configuration: SocketIOConfiguration = .init(), logger: Logger = Logger(label: "socket.io")) {
        self.configuration = configuration
        self.logger = logger
        self.engine = EngineServer(configuration: configuration.engine, logger: logger)
        engine.onConnection { [weak self] session in
            guard let self else { return }
            let client = Client(session: session, server: self)
            self.clients.withLockedValue { $0[session.id] = client }
            client.start(connectTimeout: self.configuration.connectTimeout)
        }
        _ = of("/")
    }

    /// The namespace with this name, created on first use.
    public func of(_ name: String) -> Namespace {
        let name = name.hasPrefix("/") ? name : "/" + name
        if let existing = namespaces.withLockedValue({ $0[name] }) { return existing }
        let created = Namespace(name: name, server: self, adapterFactory: configuration.adapterFactory)
        return namespaces.withLockedValue { namespaces in
            if let existing = namespaces[name] { return existing }
            namespaces[name] = created
            return created
        }
    }

    /// The main namespace, `/`.
    public var sockets: Namespace { of("/") }

    public var allNamespaces: [Namespace] { namespaces.withLockedValue { Array($0.values) } }

    func namespace(named name: String) -> Namespace? {
        namespaces.withLockedValue { $0[name] }
    }

    /// Refuses new connections and closes every open one with a `close` packet so clients
    /// reconnect elsewhere: an idle one at once, a busy one once the handlers it has queued have
    /// run, so that a bid being recorded is finished and its ack goes out before the close
    /// packet. Waits up to `drainTimeout` for those handlers, then up to a second for polling
    /// clients to fetch what is left for them (a live one polls again at once); what is still
    /// open then is closed anyway. Then closes the adapters.
    public func shutdown(drainTimeout: Duration = .seconds(10)) async {
        engine.refuseNewSessions()
        for client in clients.withLockedValue({ Array($0.values) }) { client.closeAfterQueuedHandlers(reason: .serverShuttingDown) }
        let deadline = ContinuousClock.now + drainTimeout
        while runningHandlers.withLockedValue({ $0 }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let lastPolls = min(deadline, ContinuousClock.now + .seconds(1))
        while engine.sessionCount > 0, ContinuousClock.now < lastPolls {
            try? await Task.sleep(for: .milliseconds(20))
        }
        engine.shutdown()
        for namespace in allNamespaces { await namespace.adapter.close() }
    }

    /// Handlers queued or running, across all connections.
    public var pendingHandlers: Int { runningHandlers.withLockedValue { $0 } }

    func clientClosed(_ client: Client) {
        clients.withLockedValue { clients in
            if clients[client.session.id] === client { clients.removeValue(forKey: client.session.id) }
        }
    }

    func handlerStarted() { runningHandlers.withLockedValue { $0 += 1 } }
    func handlerFinished() { runningHandlers.withLockedValue { $0 -= 1 } }
}
