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

    /// A migration's file name: `001_name.sql`.
    static func isMigration(_ name: String) -> Bool {
        name.hasSuffix(".sql") && name.first?.isNumber == true
    }

    /// `001_name.sql` files in name order. A file that cannot be read is a ``ConfigurationError``
    /// naming it (one line), not Foundation's error.
    public func migrations() throws(ConfigurationError) -> [Migration] {
        let folder = directory.path
        guard let listing = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            let problem = ShippedFolder.problem(reading: directory, folder: true) ?? "it cannot be listed"
            throw ConfigurationError(description: "cannot read the migrations in \(folder): \(problem); make it readable or point AUCTION_SQL_DIR elsewhere")
        }
        return try listing.filter(Self.isMigration).sorted().map { name throws(ConfigurationError) in
            let file = directory.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path), let sql = String(data: data, encoding: .utf8) else {
                let problem = ShippedFolder.problem(reading: file, folder: false) ?? "not UTF-8 text"
                throw ConfigurationError(description: "cannot read the migration \(file.path): \(problem); fix the file or point AUCTION_SQL_DIR elsewhere")
            }
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
                        throw MigrationFailure(version: migration.version, error)
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

/// A migration PostgreSQL refused (rolled back, so none of it is applied): which one, and what
/// PostgreSQL said, in one line. PostgresNIO's own description is deliberately generic.
public struct MigrationFailure: Error, CustomStringConvertible {
    public let version: String
    public let reason: String

    init(version: String, _ error: any Error) {
        self.version = version
        if let error = error as? PSQLError, let message = error.serverInfo?[.message] {
            self.reason = "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
        } else {
            self.reason = StartupCheck.cause(error)
        }
    }

    public var description: String {
        "migration \(version) failed and was rolled back: \(reason); fix \(version).sql and run auction migrate again"
    }
}
