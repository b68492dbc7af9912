import Foundation
import Logging
import PostgresNIO

/// Applies `sql/NNN_*.sql` in order, each once, recorded in `schema_migrations`.
///
/// Safe from several instances at once: a session advisory lock makes them take turns, and each
/// migration commits together with its record.
public struct Migrator: Sendable {
    /// The advisory lock key of migrations (distinct from the per-item bid locks, which are ids ≥ 1).
    static let lockKey: Int64 = -7_236_001

    public let directory: URL
    let database: Database
    let logger: Logger

    public init(directory: URL, database: Database, logger: Logger) {
        self.directory = directory
        self.database = database
        self.logger = logger
    }

    public struct Migration: Sendable, Equatable {
        public var version: String
        public var sql: String
    }

    /// `001_name.sql` files in name order.
    public func migrations() throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") && $0.first?.isNumber == true }
            .sorted()
        return try names.map { name in
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            return Migration(version: String(name.dropLast(4)), sql: sql)
        }
    }

    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public func migrate() async throws -> [String] {
        let pending = try migrations()
        let logger = self.logger
        return try await database.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version TEXT PRIMARY KEY,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )
                    """,
                    logger: logger
                )
                var applied = Set<String>()
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(String.self) {
                    applied.insert(version)
                }
                var done: [String] = []
                for migration in pending where !applied.contains(migration.version) {
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        // PostgresNIO speaks the extended protocol only: one statement per query.
                        for statement in SQLScript.statements(in: migration.sql) {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query("INSERT INTO schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                        try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                    logger.info("migration applied", metadata: ["version": "\(migration.version)"])
                    done.append(migration.version)
                }
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return done
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }
}
