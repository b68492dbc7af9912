import EngineIO
import Foundation
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
    /// Whether a connection's event handlers run one at a time or side by side.
    public var eventHandling: EventHandling
    /// The packet format every client of this server speaks (``DefaultParser`` by default,
    /// ``MessagePackParser`` for `socket.io-msgpack-parser` clients).
    public var parser: any SocketIOParser = DefaultParser()
    /// A namespace made on demand by a ``ParentNamespace`` goes away with its last socket (its
    /// adapter closed), as Node's `cleanupEmptyChildNamespaces`; off by default.
    public var cleanupEmptyChildNamespaces = false

    public init(
        engine: EngineConfiguration = EngineConfiguration(path: "/socket.io/"),
        connectTimeout: Duration = .seconds(45),
        connectionStateRecovery: ConnectionStateRecovery? = nil,
        eventHandling: EventHandling = .serial,
        adapterFactory: @escaping @Sendable (Namespace) -> any Adapter = {
            InMemoryAdapter(namespace: $0, recovery: $0.server.configuration.connectionStateRecovery)
        }
    ) {
        self.engine = engine
        self.connectTimeout = connectTimeout
        self.connectionStateRecovery = connectionStateRecovery
        self.eventHandling = eventHandling
        self.adapterFactory = adapterFactory
    }
}

/// How the event handlers of one connection are scheduled.
public enum EventHandling: Sendable {
    /// One at a time, in arrival order, across all of the connection's namespaces: a handler
    /// that awaits holds back the events behind it, so handlers need no locking against each
    /// other and a client's events are answered in the order it sent them.
    case serial
    /// Each event's handlers start as it arrives and interleave at their suspension points, as
    /// Node's do. Connects and disconnects stay in arrival order.
    case concurrent
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
    private let parents = NIOLockedValueBox<[ParentNamespace]>([])
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

    /// Namespaces made on demand: a client connecting to a name no namespace has gets one when
    /// `matcher` accepts it (Node's `io.of(fn)`); parents are asked in the order they were added.
    public func of(matching matcher: @escaping ParentNamespace.Matcher) -> ParentNamespace {
        let parent = ParentNamespace(matcher: matcher)
        parents.withLockedValue { $0.append(parent) }
        return parent
    }

    /// Namespaces made on demand for the names the expression matches, as Node's `io.of(regex)`
    /// tests them (anywhere in the name unless anchored: `^/room-\\d+$`).
    public func of(matching expression: NSRegularExpression) -> ParentNamespace {
        of(matching: { name, _ in
            expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        })
    }

    /// The main namespace, `/`.
    public var sockets: Namespace { of("/") }

    public var allNamespaces: [Namespace] { namespaces.withLockedValue { Array($0.values) } }

    func namespace(named name: String) -> Namespace? {
        namespaces.withLockedValue { $0[name] }
    }

    /// The namespace for a CONNECT: an existing one, or one a parent makes for it.
    func namespace(connecting name: String, auth: JSONValue) async -> Namespace? {
        if let existing = namespace(named: name) { return existing }
        for parent in parents.withLockedValue({ $0 }) where await parent.matcher(name, auth) {
            let child = Namespace(name: name, server: self, parent: parent, adapterFactory: configuration.adapterFactory)
            let chosen = namespaces.withLockedValue { namespaces in
                if let existing = namespaces[name] { return existing }
                namespaces[name] = child
                return child
            }
            if chosen === child { parent.adopt(child) }
            return chosen
        }
        return nil
    }

    /// A child namespace whose last socket left (``SocketIOConfiguration/cleanupEmptyChildNamespaces``).
    func removeChild(_ child: Namespace) {
        let removed = namespaces.withLockedValue { namespaces in
            guard namespaces[child.name] === child, child.localSockets.isEmpty else { return false }
            namespaces.removeValue(forKey: child.name)
            return true
        }
        guard removed else { return }
        child.parent?.release(child)
        Task { await child.adapter.close() }
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
