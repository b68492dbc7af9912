import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A Redis client with two connections, each rebuilt automatically: one for commands
/// (pipelined) and one for subscriptions. After every reconnect of the subscriber, every
/// channel and pattern subscribed so far is subscribed again, before messages are expected.
///
/// Run it as a service (`run()`); commands fail fast with ``RedisError/notConnected`` while
/// Redis is away, and ``isHealthy`` says whether both connections are up, ``lastFailure`` why
/// not. Every connection is prepared the same way before it is used: the TLS handshake
/// (`rediss://`), `AUTH` when the URL has a password (`AUTH user password` with a user), `PING`,
/// then `SELECT` (commands) or the subscriptions (subscriber) — so a reconnect sends AUTH again.
public final class RedisClient: Service, Sendable {
    public typealias MessageHandler = @Sendable (RedisPubSubMessage) -> Void

    public let url: RedisURL
    let logger: Logger
    /// Redis I/O has its own event loop, so its timers never share a heap with thousands of
    /// Socket.IO session timers.
    let group: MultiThreadedEventLoopGroup

    struct State {
        var command: RedisConnection?
        var subscriber: RedisConnection?
        var channels: Set<String> = []
        var patterns: Set<String> = []
        var handlers: [MessageHandler] = []
        var resubscribed: [@Sendable () -> Void] = []
        var stopped = false
        var lastFailure: RedisError?
        /// Cluster mode: the slot map, the connections to nodes other than the command
        /// connection's, and the node to try next for the two main connections.
        var slots: RedisCluster.SlotMap?
        var nodes: [RedisCluster.Node: RedisConnection] = [:]
        var nextSeed = 0
        /// Sharded pub/sub: the channels wanted, and the node each is subscribed on now (absent:
        /// to be subscribed by the next round of ``keepShardSubscriptions()``).
        var shardChannels: Set<String> = []
        var shardSubscribedOn: [String: RedisCluster.Node] = [:]
        var shardSubscribers: [RedisCluster.Node: RedisConnection] = [:]
        /// Connections of their own for blocking commands, closed when the client stops.
        var blocking: [RedisBlockingConnection] = []
    }

    let state = NIOLockedValueBox(State())
    static let maximumBackoff: Duration = .milliseconds(500)
    /// Counts for metrics.
    public let statistics = RedisStatistics()

    /// The TLS context of `rediss://`, or why there is none (every connection then fails with it).
    let tlsContext: Result<NIOSSLContext, RedisError>?

    /// Cluster mode: the nodes to start from (any of them; the rest is learned from
    /// `CLUSTER SLOTS`). Nil for a single Redis.
    let seeds: [RedisCluster.Node]?

    public init(url: RedisURL, tls: RedisTLS = RedisTLS(), logger: Logger) {
        self.url = url
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.tlsContext = url.usesTLS ? Result { () throws(RedisError) in try tls.makeContext() } : nil
        self.seeds = nil
    }

    /// A client of a Redis Cluster, started from `seeds` (`host:port` of any nodes), with the
    /// user, password and TLS of `url` (its host, port and database are not used: a cluster has
    /// database 0 only). Keyed commands go to the primary of their key's slot, over one
    /// pipelined connection per primary; `MOVED` rereads the slot map and retries there, `ASK`
    /// retries once on the node named, after `ASKING`. Keyless commands, `PUBLISH` among them
    /// (classic pub/sub reaches every node of a cluster), and the subscriptions use one node's
    /// connections, rebuilt on the next node when it fails.
    public init(clusterSeeds seeds: [RedisCluster.Node], url: RedisURL, tls: RedisTLS = RedisTLS(), logger: Logger) {
        precondition(!seeds.isEmpty, "a cluster client needs at least one seed node")
        self.url = url
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.tlsContext = url.usesTLS ? Result { () throws(RedisError) in try tls.makeContext() } : nil
        self.seeds = seeds
    }

    public var isCluster: Bool { seeds != nil }

    /// Why the last attempt to connect failed, while a connection is down (nil once both are up):
    /// a refused password or a failed TLS handshake, told apart from an unreachable server.
    public var lastFailure: RedisError? {
        state.withLockedValue { $0.lastFailure }
    }

    // MARK: Health

    public var isHealthy: Bool {
        state.withLockedValue { $0.command?.channel.isActive == true && $0.subscriber?.channel.isActive == true }
    }

    /// True when Redis answers PING in time.
    public func ping() async -> Bool {
        (try? await send("PING"))?.string == "PONG"
    }

    // MARK: Commands

    public func send(_ arguments: String...) async throws -> RESPValue {
        try await send(arguments.map { Array($0.utf8) })
    }

    public func send(_ arguments: [[UInt8]]) async throws -> RESPValue {
        if isCluster, let key = RedisCluster.key(of: arguments) {
            return try await sendToSlot(RedisCluster.slot(of: key), arguments)
        }
        guard let connection = state.withLockedValue({ $0.command }), connection.channel.isActive else {
            throw RedisError.notConnected
        }
        return try await connection.send(arguments)
    }

    /// Publishes a binary-safe message; returns how many subscribers received it.
    @discardableResult
    public func publish(_ payload: [UInt8], to channel: String) async throws -> Int64 {
        statistics.published.add(1, ordering: .relaxed)
        do {
            return try await send([Array("PUBLISH".utf8), Array(channel.utf8), payload]).integer ?? 0
        } catch {
            statistics.publishFailures.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// `PUBSUB NUMSUB channel`: how many connections subscribe to the channel — on a cluster,
    /// summed over every node (each counts only its own subscribers).
    public func subscriberCount(_ channel: String) async throws -> Int {
        try await countSummedOverNodes("NUMSUB", channel)
    }

    /// `PUBSUB <kind> channel` (NUMSUB, SHARDNUMSUB): the count of the one Redis, or on a cluster
    /// the sum over every node, each of which counts only its own subscribers.
    func countSummedOverNodes(_ kind: String, _ channel: String) async throws -> Int {
        let arguments = Self.arguments("PUBSUB", kind, channel)
        func count(_ reply: RESPValue) throws -> Int {
            guard case .array(let items?) = reply, items.count == 2, let count = items[1].integer else {
                throw RedisError.protocolError("unexpected \(kind) reply \(reply)")
            }
            return Int(count)
        }
        let nodes = isCluster ? state.withLockedValue { $0.slots?.nodes ?? [] } : []
        guard !nodes.isEmpty else { return try count(try await send(arguments)) }
        var total = 0
        for node in nodes { total += try count(try await connection(to: node).send(arguments)) }
        return total
    }

    // MARK: Subscriptions

    public func onMessage(_ handler: @escaping MessageHandler) {
        state.withLockedValue { $0.handlers.append(handler) }
    }

    /// Called after each reconnect of the subscriber, once everything is subscribed again.
    public func onResubscribed(_ handler: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.resubscribed.append(handler) }
    }

    public func subscribe(_ channel: String) async throws {
        let connection = state.withLockedValue { state -> RedisConnection? in
            state.channels.insert(channel)
            return state.subscriber
        }
        if let connection, connection.channel.isActive { _ = try await connection.send(Self.arguments("SUBSCRIBE", channel)) }
    }

    public func psubscribe(_ pattern: String) async throws {
        let connection = state.withLockedValue { state -> RedisConnection? in
            state.patterns.insert(pattern)
            return state.subscriber
        }
        if let connection, connection.channel.isActive { _ = try await connection.send(Self.arguments("PSUBSCRIBE", pattern)) }
    }

    public func unsubscribe(_ channel: String) async throws {
        let connection = state.withLockedValue { state -> RedisConnection? in
            state.channels.remove(channel)
            return state.subscriber
        }
        if let connection, connection.channel.isActive { _ = try await connection.send(Self.arguments("UNSUBSCRIBE", channel)) }
    }

    public func punsubscribe(_ pattern: String) async throws {
        let connection = state.withLockedValue { state -> RedisConnection? in
            state.patterns.remove(pattern)
            return state.subscriber
        }
        if let connection, connection.channel.isActive { _ = try await connection.send(Self.arguments("PUNSUBSCRIBE", pattern)) }
    }

    // MARK: Running

    public func run() async throws {
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await self.maintain(subscriber: false) }
            tasks.addTask { await self.maintain(subscriber: true) }
            tasks.addTask { await self.keepShardSubscriptions() }
            await withGracefulShutdownHandler {
                await tasks.waitForAll()
            } onGracefulShutdown: {
                self.stop()
            }
        }
        try? await group.shutdownGracefully()
    }

    /// Closes every connection and stops reconnecting.
    public func stop() {
        let connections = state.withLockedValue { state -> [RedisConnection] in
            state.stopped = true
            let blocking = state.blocking.map(\.connection)
            state.blocking = []
            return [state.command, state.subscriber].compactMap { $0 } + state.nodes.values + state.shardSubscribers.values + blocking
        }
        for connection in connections { connection.close() }
    }

    public var isStopped: Bool { state.withLockedValue { $0.stopped } }

    var currentCommandConnection: RedisConnection? { state.withLockedValue { $0.command } }

    /// Keeps one connection up: connect, prepare, wait for it to close, back off, again.
    private func maintain(subscriber: Bool) async {
        let role = subscriber ? "subscriber" : "command"
        var backoff: Duration = .milliseconds(50)
        var wasDown = false
        var loggedFailure: RedisError?
        // Cancelled (its service group gave up on a graceful end), the loop must end too: a
        // cancelled sleep returns at once, and retrying without it would spin on a CPU.
        while !isStopped, !Task.isCancelled {
            do {
                let dispatch: MessageHandler = { [weak self] message in self?.dispatch(message) }
                let handlers: MessageHandler? = subscriber ? dispatch : nil
                let target = mainNode()
                let connection = try await RedisConnection.connect(
                    host: target.host, port: target.port, group: group, tls: try tlsContext?.get(), onMessage: handlers
                )
                do {
                    try await prepare(connection, subscriber: subscriber)
                    if isCluster, !subscriber { try await loadSlots(over: connection, answeredBy: target) }
                } catch {
                    connection.close()
                    throw error
                }
                state.withLockedValue { state in
                    if subscriber { state.subscriber = connection } else { state.command = connection }
                    if state.command != nil, state.subscriber != nil { state.lastFailure = nil }
                }
                loggedFailure = nil
                if isStopped { connection.close() }
                if wasDown {
                    statistics.reconnects.add(1, ordering: .relaxed)
                    logger.info("redis reconnected", metadata: ["connection": "\(role)"])
                }
                if subscriber {
                    for handler in state.withLockedValue({ $0.resubscribed }) { handler() }
                }
                backoff = .milliseconds(50)
                try? await connection.closeFuture.get()
                state.withLockedValue { state in
                    if subscriber, state.subscriber === connection { state.subscriber = nil }
                    if !subscriber, state.command === connection { state.command = nil }
                }
                if !isStopped { logger.warning("redis connection lost", metadata: ["connection": "\(role)"]) }
            } catch {
                let failure = Self.failure(error)
                state.withLockedValue { $0.lastFailure = failure }
                // Each new cause is logged once: a refused password is an error an operator must
                // fix, not something to retry quietly.
                if loggedFailure != failure {
                    loggedFailure = failure
                    switch failure {
                    case .authenticationFailed, .tls:
                        logger.error("redis refused the connection", metadata: ["connection": "\(role)", "error": "\(failure.explanation)"])
                    default:
                        logger.warning("redis unreachable", metadata: ["connection": "\(role)", "error": "\(error)"])
                    }
                }
            }
            wasDown = true
            if isCluster { state.withLockedValue { $0.nextSeed += 1 } }
            if isStopped { break }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                break
            }
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
    }

    /// AUTH, PING, then SELECT or the subscriptions.
    func prepare(_ connection: RedisConnection, subscriber: Bool) async throws {
        if let password = url.password {
            let arguments = url.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            do {
                _ = try await connection.send(arguments.map { Array($0.utf8) })
            } catch RedisError.server(let message) {
                throw RedisError.authenticationFailed(message)
            }
        }
        do {
            _ = try await connection.send(Self.arguments("PING"))
        } catch RedisError.server(let message) where message.hasPrefix("NOAUTH") {
            throw RedisError.authenticationFailed(message)
        }
        if subscriber {
            try await resubscribe(on: connection)
        } else if url.database != 0, !isCluster {
            _ = try await connection.send(Self.arguments("SELECT", String(url.database)))
        }
    }

    /// A connection attempt's error as what an operator should be told.
    static func failure(_ error: any Error) -> RedisError {
        switch error {
        case let error as RedisError: return error
        case let error as NIOSSLError: return .tls("\(error)")
        case let error as BoringSSLError: return .tls("\(error)")
        default: return .unreachable("\(error)")
        }
    }

    private func resubscribe(on connection: RedisConnection) async throws {
        let (channels, patterns) = state.withLockedValue { ($0.channels, $0.patterns) }
        for channel in channels.sorted() { _ = try await connection.send(Self.arguments("SUBSCRIBE", channel)) }
        for pattern in patterns.sorted() { _ = try await connection.send(Self.arguments("PSUBSCRIBE", pattern)) }
    }

    func dispatch(_ message: RedisPubSubMessage) {
        statistics.messagesReceived.add(1, ordering: .relaxed)
        for handler in state.withLockedValue({ $0.handlers }) { handler(message) }
    }

    static func arguments(_ words: String...) -> [[UInt8]] {
        words.map { Array($0.utf8) }
    }
}

// MARK: Cluster

extension RedisClient {
    /// Where the main connections go: the single Redis, or the next node to try — the seeds and
    /// then every node the slot map names, in turn after each failure.
    func mainNode() -> RedisCluster.Node {
        guard let seeds else { return RedisCluster.Node(host: url.host, port: url.port) }
        return state.withLockedValue { state in
            let known = seeds + (state.slots?.nodes ?? []).sorted { $0.description < $1.description }.filter { !seeds.contains($0) }
            return known[state.nextSeed % known.count]
        }
    }

    /// Rereads the slot map (`CLUSTER SLOTS`), over `connection` or the command connection.
    func loadSlots(over connection: RedisConnection? = nil, answeredBy node: RedisCluster.Node? = nil) async throws {
        guard let connection = connection ?? state.withLockedValue({ $0.command }) else { throw RedisError.notConnected }
        let answering = node ?? mainNode()
        let map = try RedisCluster.SlotMap(clusterSlots: try await connection.send(Self.arguments("CLUSTER", "SLOTS")), answeredBy: answering)
        let dropped = state.withLockedValue { state -> [RedisConnection] in
            state.slots = map
            // Connections to nodes that left the map are of no further use.
            let gone = state.nodes.keys.filter { !map.nodes.contains($0) }
            return gone.compactMap { state.nodes.removeValue(forKey: $0) }
        }
        for connection in dropped { connection.close() }
        // Open the primaries' connections now, so in-order publishes find them.
        let missing = state.withLockedValue { state in map.primaries.filter { state.nodes[$0]?.channel.isActive != true } }
        for primary in missing { Task { _ = try? await self.connection(to: primary) } }
    }

    /// The pipelined connection to one node, opened and prepared (AUTH, PING) on first use and
    /// again after it closed.
    func connection(to node: RedisCluster.Node) async throws -> RedisConnection {
        try await pooledConnection(to: node, in: \.nodes)
    }

    /// The live connection to `node` in one of the per-node tables (`pool`), else a new one
    /// opened and prepared (AUTH, PING) and kept there; of two opened at once, one is kept and
    /// the other closed. `opened` runs for a new connection before it is shared.
    func pooledConnection(
        to node: RedisCluster.Node,
        in pool: WritableKeyPath<State, [RedisCluster.Node: RedisConnection]>,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onShardUnsubscribed: (@Sendable (String) -> Void)? = nil,
        opened: ((RedisConnection) -> Void)? = nil
    ) async throws -> RedisConnection {
        // Stopped, the event loop group is going away: nothing new is opened on it.
        guard !isStopped else { throw RedisError.notConnected }
        if let existing = state.withLockedValue({ $0[keyPath: pool][node] }), existing.channel.isActive { return existing }
        let connection = try await openPrepared(node, onMessage: onMessage, onShardUnsubscribed: onShardUnsubscribed)
        opened?(connection)
        let (kept, spare) = state.withLockedValue { state -> (RedisConnection, RedisConnection?) in
            if let other = state[keyPath: pool][node], other.channel.isActive { return (other, connection) }
            state[keyPath: pool][node] = connection
            return (connection, nil)
        }
        spare?.close()
        return kept
    }

    /// A new connection to `node`, prepared (TLS, AUTH, PING, SELECT) or closed again.
    func openPrepared(
        _ node: RedisCluster.Node,
        onMessage: (@Sendable (RedisPubSubMessage) -> Void)? = nil,
        onShardUnsubscribed: (@Sendable (String) -> Void)? = nil
    ) async throws -> RedisConnection {
        let connection = try await RedisConnection.connect(
            host: node.host, port: node.port, group: group, tls: try tlsContext?.get(),
            onMessage: onMessage, onShardUnsubscribed: onShardUnsubscribed
        )
        do {
            try await prepare(connection, subscriber: false)
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// A keyed command on a cluster: to the slot's primary, following redirections (at most five)
    /// and, when a node cannot be reached, rereading the map and trying once more.
    fileprivate func sendToSlot(_ slot: Int, _ arguments: [[UInt8]]) async throws -> RESPValue {
        if state.withLockedValue({ $0.slots == nil }) { try await loadSlots() }
        var target = state.withLockedValue { $0.slots?.primary(of: slot) }
        var asking = false
        var retriedUnreachable = false
        for _ in 0..<6 {
            guard let node = target else {
                throw RedisError.server("CLUSTERDOWN slot \(slot) is not served by any node")
            }
            do {
                let connection = try await self.connection(to: node)
                if asking {
                    let asked = connection.write(Self.arguments("ASKING"))
                    let reply = connection.write(arguments)
                    _ = try await asked.get()
                    return try await reply.get()
                }
                return try await connection.send(arguments)
            } catch RedisError.server(let message) {
                switch RedisCluster.Redirection(message) {
                case .moved(_, let to)?:
                    try? await loadSlots()
                    target = to
                    asking = false
                case .ask(_, let to)?:
                    target = to
                    asking = true
                case nil:
                    throw RedisError.server(message)
                }
            } catch let error where !retriedUnreachable && Self.isConnectionFailure(error) {
                // The primary may have failed over: reread the map from a node that answers.
                retriedUnreachable = true
                state.withLockedValue { $0.nodes.removeValue(forKey: node) }?.close()
                try? await loadSlots()
                target = state.withLockedValue { $0.slots?.primary(of: slot) }
                asking = false
            }
        }
        throw RedisError.server("TOOMANYREDIRECTS slot \(slot)")
    }

    static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error {
        case RedisError.connectionClosed, RedisError.notConnected, RedisError.timeout: return true
        case is IOError, is ChannelError: return true
        default: return false
        }
    }
}

extension RedisClient {
    /// Writes a PUBLISH now, in call order with every other command of this client, and returns
    /// the future of its reply. Callers that must keep their messages in order across Redis
    /// (one broadcast after another) call this synchronously, one after the other.
    public func publishInOrder(_ payload: [UInt8], to channel: String) -> EventLoopFuture<RESPValue> {
        let arguments = [Array("PUBLISH".utf8), Array(channel.utf8), payload]
        statistics.published.add(1, ordering: .relaxed)
        guard let connection = currentCommandConnection, connection.channel.isActive else {
            statistics.publishFailures.add(1, ordering: .relaxed)
            return group.next().makeFailedFuture(RedisError.notConnected)
        }
        let statistics = self.statistics
        return connection.write(arguments).flatMapErrorThrowing { error in
            statistics.publishFailures.add(1, ordering: .relaxed)
            throw error
        }
    }
}

extension RedisClient {
    /// Writes a keyed command now, in call order with every other command for the same slot (one
    /// connection per node; on a single Redis, the command connection), and returns the future of
    /// its reply. On a cluster, a `MOVED` answer or a lost connection rereads the slot map and
    /// sends it again to the key's owner before the future completes, so a caller that waits for
    /// it before its next command keeps its order.
    public func sendInOrder(_ arguments: [[UInt8]], key: String) -> EventLoopFuture<RESPValue> {
        let connection: RedisConnection? = state.withLockedValue { state in
            guard isCluster else { return state.command }
            guard let owner = state.slots?.primary(of: RedisCluster.slot(of: Array(key.utf8))) else { return nil }
            return state.nodes[owner]
        }
        guard let connection, connection.channel.isActive else {
            guard isCluster else { return group.next().makeFailedFuture(RedisError.notConnected) }
            // Not connected to the owner yet: sent as soon as it is (this one may then be overtaken).
            let promise = group.next().makePromise(of: RESPValue.self)
            promise.completeWithTask { try await self.send(arguments) }
            return promise.futureResult
        }
        return connection.write(arguments).flatMapError { error in
            let redirected: Bool
            if case RedisError.server(let message) = error { redirected = RedisCluster.Redirection(message) != nil } else { redirected = false }
            guard self.isCluster, redirected || Self.isConnectionFailure(error) else {
                return connection.channel.eventLoop.makeFailedFuture(error)
            }
            let retried = connection.channel.eventLoop.makePromise(of: RESPValue.self)
            retried.completeWithTask {
                try? await self.loadSlots()
                return try await self.send(arguments)
            }
            return retried.futureResult
        }
    }

    /// A connection of its own, for blocking commands (`XREAD BLOCK`) that must not hold up the
    /// pipelined ones: to the single Redis, or to the primary of `key`'s slot; prepared like every
    /// other (TLS, AUTH, PING, SELECT). The caller closes it; a new one is needed after a failure.
    public func blockingConnection(forKey key: String) async throws -> RedisBlockingConnection {
        guard !isStopped else { throw RedisError.notConnected }
        var node = RedisCluster.Node(host: url.host, port: url.port)
        if isCluster {
            if state.withLockedValue({ $0.slots == nil }) { try await loadSlots() }
            guard let owner = state.withLockedValue({ $0.slots?.primary(of: RedisCluster.slot(of: Array(key.utf8))) }) else {
                throw RedisError.server("CLUSTERDOWN no node serves the slot of \(key)")
            }
            node = owner
        }
        let blocking = RedisBlockingConnection(try await openPrepared(node))
        state.withLockedValue { state in
            state.blocking.removeAll { !$0.isActive }
            state.blocking.append(blocking)
        }
        if isStopped { blocking.close() }
        return blocking
    }

    /// Called after a blocking connection failed on a cluster: the slot may have moved.
    public func refreshSlotMap() async {
        guard isCluster else { return }
        try? await loadSlots()
    }
}

/// A Redis connection of its own for blocking commands, from ``RedisClient/blockingConnection(forKey:)``.
public final class RedisBlockingConnection: Sendable {
    let connection: RedisConnection

    init(_ connection: RedisConnection) {
        self.connection = connection
    }

    /// Sends one command; its reply may take up to `timeout` (a longer wait closes the connection).
    public func send(_ arguments: [[UInt8]], timeout: Duration) async throws -> RESPValue {
        try await connection.write(arguments, timeout: TimeAmount(timeout)).get()
    }

    public var isActive: Bool { connection.channel.isActive }

    public func close() {
        connection.close()
    }
}

/// What a ``RedisClient`` has done since it started, for metrics.
public final class RedisStatistics: Sendable {
    /// Reconnections after a lost connection (either of the two).
    public let reconnects = Atomic<Int>(0)
    /// `PUBLISH`es and `SPUBLISH`es sent, and those that failed.
    public let published = Atomic<Int>(0)
    public let publishFailures = Atomic<Int>(0)
    /// Pub/sub messages received on subscribed channels, patterns and sharded channels.
    public let messagesReceived = Atomic<Int>(0)
}

extension RedisError {
    /// One line for logs, `/readyz` and start-up errors.
    public var explanation: String {
        switch self {
        case .notConnected: "not connected"
        case .connectionClosed: "the connection closed"
        case .timeout: "no answer in time"
        case .unreachable(let message): "unreachable: \(message)"
        case .server(let message): message
        case .protocolError(let message): "not Redis's protocol: \(message)"
        case .invalidURL(let message): message
        case .authenticationFailed(let message): "the password was refused: \(message)"
        case .tls(let message): "TLS failed: \(message)"
        }
    }
}
