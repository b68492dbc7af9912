import Foundation
import RedisClient

/// Sessions in Redis (`auction:session:<id>` → user id, expiring after `SESSION_TTL`), so a tab
/// can reconnect to any instance.
public struct RedisSessionStore: SessionStore {
    let redis: RedisClient
    static let prefix = "auction:session:"

    public init(redis: RedisClient) {
        self.redis = redis
    }

    public func create(userID: String, ttl: Int) async throws -> String {
        let id = SessionToken.make()
        _ = try await redis.send("SET", Self.prefix + id, userID, "EX", String(ttl))
        return id
    }

    public func userID(for sessionID: String) async throws -> String? {
        guard SessionToken.isWellFormed(sessionID) else { return nil }
        return try await redis.send("GET", Self.prefix + sessionID).string
    }

    public func delete(_ sessionID: String) async throws {
        guard SessionToken.isWellFormed(sessionID) else { return }
        _ = try await redis.send("DEL", Self.prefix + sessionID)
    }
}
