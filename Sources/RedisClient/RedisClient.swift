import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A Redis client with two connections, each rebuilt automatically: one for commands
/// (pipelined) and one for subscriptions. After every reconnect of the subscriber, every
/// channel and pattern subscribed so far is subscribed again, before messages are expected.
///
/// Run it as a service (`run()`); commands fail fast with ``RedisError/notConnected`` while
/// Redis is away, and ``isHealthy`` says whether both connections are up.
public final class RedisClient: Service, Sendable {
    public typealias MessageHandler = @Sendable (RedisPubSubMessage) -> Void

    public let url: RedisURL
    let logger: Logger
    /// Redis I/O has its own event loop, so its timers never share a heap with thousands of
    /// Socket.IO session timers.
    let group: MultiThreadedEventLoopGroup

    private struct State {
        var command: RedisConnection?
        var subscriber: RedisConnection?
        var channels: Set<String> = []
        var patterns: Set<String> = []
        var handlers: [MessageHandler] = []
        var resubscribed: [@Sendable () -> Void] = []
        var stopped = false
    }

    private let state = NIOLockedValueBox(State())
    static let maximumBackoff: Duration = .milliseconds(500)
    /// Counts for metrics.
    public let statistics = RedisStatistics()

    public init(url: RedisURL, logger: Logger) {
        self.url = url
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
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

    /// `PUBSUB NUMSUB channel`: how many connections subscribe to the channel.
    public func subscriberCount(_ channel: String) async throws -> Int {
        let reply = try await send("PUBSUB", "NUMSUB", channel)
        guard case .array(let items?) = reply, items.count == 2, let count = items[1].integer else {
            throw RedisError.protocolError("unexpected NUMSUB reply \(reply)")
        }
        return Int(count)
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
            await withGracefulShutdownHandler {
                await tasks.waitForAll()
            } onGracefulShutdown: {
                self.stop()
            }
        }
        try? await group.shutdownGracefully()
    }

    /// Closes both connections and stops reconnecting.
    public func stop() {
        let connections = state.withLockedValue { state -> [RedisConnection] in
            state.stopped = true
            return [state.command, state.subscriber].compactMap { $0 }
        }
        for connection in connections { connection.close() }
    }

    private var isStopped: Bool { state.withLockedValue { $0.stopped } }

    var currentCommandConnection: RedisConnection? { state.withLockedValue { $0.command } }

    /// Keeps one connection up: connect, prepare, wait for it to close, back off, again.
    private func maintain(subscriber: Bool) async {
        let role = subscriber ? "subscriber" : "command"
        var backoff: Duration = .milliseconds(50)
        var wasDown = false
        // Cancelled (its service group gave up on a graceful end), the loop must end too: a
        // cancelled sleep returns at once, and retrying without it would spin on a CPU.
        while !isStopped, !Task.isCancelled {
            do {
                let dispatch: MessageHandler = { [weak self] message in self?.dispatch(message) }
                let handlers: MessageHandler? = subscriber ? dispatch : nil
                let connection = try await RedisConnection.connect(host: url.host, port: url.port, group: group, onMessage: handlers)
                if subscriber {
                    try await resubscribe(on: connection)
                } else if url.database != 0 {
                    _ = try await connection.send(Self.arguments("SELECT", String(url.database)))
                }
                state.withLockedValue { state in
                    if subscriber { state.subscriber = connection } else { state.command = connection }
                }
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
                if !wasDown { logger.warning("redis unreachable", metadata: ["connection": "\(role)", "error": "\(error)"]) }
            }
            wasDown = true
            if isStopped { break }
            do {
                try await Task.sleep(for: backoff)
            } catch {
                break
            }
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
    }

    private func resubscribe(on connection: RedisConnection) async throws {
        let (channels, patterns) = state.withLockedValue { ($0.channels, $0.patterns) }
        for channel in channels.sorted() { _ = try await connection.send(Self.arguments("SUBSCRIBE", channel)) }
        for pattern in patterns.sorted() { _ = try await connection.send(Self.arguments("PSUBSCRIBE", pattern)) }
    }

    private func dispatch(_ message: RedisPubSubMessage) {
        statistics.messagesReceived.add(1, ordering: .relaxed)
        for handler in state.withLockedValue({ $0.handlers }) { handler(message) }
    }

    static func arguments(_ words: String...) -> [[UInt8]] {
        words.map { Array($0.utf8) }
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

/// What a ``RedisClient`` has done since it started, for metrics.
public final class RedisStatistics: Sendable {
    /// Reconnections after a lost connection (either of the two).
    public let reconnects = Atomic<Int>(0)
    /// `PUBLISH`es written in order (``RedisClient/publishInOrder(_:to:)``), and those that failed.
    public let published = Atomic<Int>(0)
    public let publishFailures = Atomic<Int>(0)
    /// Pub/sub messages received on subscribed channels and patterns.
    public let messagesReceived = Atomic<Int>(0)
}
