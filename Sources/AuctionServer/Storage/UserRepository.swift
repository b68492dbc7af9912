import Logging
import PostgresNIO

/// The address is already registered (compared without case).
public struct EmailTaken: Error {}

/// Users in PostgreSQL.
public struct UserRepository: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func create(email: String, name: String, passwordHash: String) async throws -> UserRecord {
        let logger = self.logger
        return try await database.withConnection { connection in
            do {
                let rows = try await connection.query(
                    "INSERT INTO users (email, name, password_hash) VALUES (\(email), \(name), \(passwordHash)) RETURNING id",
                    logger: logger
                )
                for try await id in rows.decode(Int64.self) {
                    return UserRecord(id: String(id), email: email, name: name)
                }
                throw StorageUnavailable(underlying: "INSERT returned no row")
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw EmailTaken()
            }
        }
    }

    /// The user and password hash for a login, by address without case.
    public func credentials(email: String) async throws -> (UserRecord, String)? {
        let logger = self.logger
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                "SELECT id, email, name, password_hash FROM users WHERE lower(email) = lower(\(email))",
                logger: logger
            )
            for try await (id, email, name, hash) in rows.decode((Int64, String, String, String).self) {
                return (UserRecord(id: String(id), email: email, name: name), hash)
            }
            return nil
        }
    }

    public func find(id: String) async throws -> UserRecord? {
        guard let key = RecordID.parse(id) else { return nil }
        let logger = self.logger
        return try await database.withConnection { connection in
            let rows = try await connection.query("SELECT id, email, name FROM users WHERE id = \(key)", logger: logger)
            for try await (id, email, name) in rows.decode((Int64, String, String).self) {
                return UserRecord(id: String(id), email: email, name: name)
            }
            return nil
        }
    }
}
