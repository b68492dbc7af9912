import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The pooled PostgreSQL client and the one place that turns storage failures into
/// ``StorageUnavailable``.
public final class Database: Sendable {
    public let client: PostgresClient
    let logger: Logger
    /// Longest we let a request wait on storage before answering "unavailable".
    static let deadline: Duration = .seconds(5)
    /// Connections leased now, and callers waiting for one (for metrics).
    public let inUse = Atomic<Int>(0)
    public let waiting = Atomic<Int>(0)

    public init(url: DatabaseURL, logger: Logger, maximumConnections: Int = 16) {
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: .disable
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(2)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs `body` on a pooled connection. Fails with ``StorageUnavailable`` when the database
    /// cannot be reached or no connection is free within the deadline. Once a connection is
    /// leased, `body` runs to the end: a transaction is never abandoned half-way by a timer.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let leased = NIOLockedValueBox(false)
        let client = self.client
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                self.waiting.add(1, ordering: .relaxed)
                var stillWaiting = true
                defer { if stillWaiting { self.waiting.subtract(1, ordering: .relaxed) } }
                do {
                    return try await client.withConnection { connection in
                        leased.withLockedValue { $0 = true }
                        stillWaiting = false
                        self.waiting.subtract(1, ordering: .relaxed)
                        self.inUse.add(1, ordering: .relaxed)
                        defer { self.inUse.subtract(1, ordering: .relaxed) }
                        return try await body(connection)
                    }
                } catch let error as PSQLError {
                    if let refusal = StorageRefusedInput(error) { throw refusal }
                    throw StorageUnavailable(underlying: "\(error)")
                }
            }
            group.addTask {
                try await Task.sleep(for: Self.deadline)
                while leased.withLockedValue({ $0 }) { try await Task.sleep(for: .seconds(60)) }
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw StorageUnavailable(underlying: "no connection within \(Self.deadline)")
            }
            return result
        }
    }

    /// True when `SELECT 1` answers in time.
    public func isReachable() async -> Bool {
        do {
            return try await withDeadline(.seconds(2)) { [client] in
                let rows = try await client.query("SELECT 1")
                for try await _ in rows {}
                return true
            }
        } catch {
            return false
        }
    }
}

extension Database: Service {
    public func run() async throws {
        await client.run()
    }
}

/// Storage could not be reached or did not answer in time; nothing was recorded.
public struct StorageUnavailable: Error, CustomStringConvertible {
    public let underlying: String
    public var description: String { "storage unavailable: \(underlying)" }
}

/// PostgreSQL refused a value we sent (a data exception, SQLSTATE class 22, or a `CHECK`
/// violation, 23514): the input was bad, the database is fine. Validation should have caught it
/// first; this keeps a missed rule a `400` rather than an outage.
public struct StorageRefusedInput: Error, CustomStringConvertible {
    public let sqlState: String
    public let message: String
    public var description: String { "storage refused a value (SQLSTATE \(sqlState)): \(message)" }

    init?(_ error: PSQLError) {
        guard let state = error.serverInfo?[.sqlState], state.hasPrefix("22") || state == "23514" else { return nil }
        self.sqlState = state
        self.message = error.serverInfo?[.message] ?? ""
    }
}

/// Runs `body`, giving up with ``StorageUnavailable`` after `limit`.
func withDeadline<Result: Sendable>(
    _ limit: Duration,
    _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw StorageUnavailable(underlying: "no answer within \(limit)")
        }
        return result
    }
}
