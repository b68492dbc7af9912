import Foundation
import RedisClient

/// Sessions in Redis (`auction:session:<id>` → user id, expiring after `SESSION_TTL`), so a tab
/// can reconnect to any instance. Each user's session ids are also kept in a sorted set by
/// creation time (`auction:user-sessions:<userId>`), so the oldest can be dropped when the user
/// holds more than ``SessionToken/maximumPerUser``. The steps are separate commands (the two keys
/// may live on different Redis Cluster shards): two creations racing may leave a user one or two
/// sessions over the cap until their next one.
public struct RedisSessionStore: SessionStore {
    let redis: RedisClient
    static let prefix = "auction:session:"
    static let userPrefix = "auction:user-sessions:"

    public init(redis: RedisClient) {
        self.redis = redis
    }

    public func create(userID: String, ttl: Int) async throws -> String {
        let id = SessionToken.make()
        let index = Self.userPrefix + userID
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try await redis.send("SET", Self.prefix + id, userID, "EX", String(ttl))
        _ = try await redis.send("ZADD", index, String(now), id)
        _ = try await redis.send("EXPIRE", index, String(ttl))
        // Expired sessions leave the index first, then the oldest beyond the cap go entirely.
        _ = try await redis.send("ZREMRANGEBYSCORE", index, "-inf", String(now - Int64(ttl) * 1000))
        let overflow = try await redis.send("ZRANGE", index, "0", String(-(SessionToken.maximumPerUser + 1)))
        if case .array(let members?) = overflow {
            for member in members.compactMap(\.string) {
                _ = try await redis.send("DEL", Self.prefix + member)
                _ = try await redis.send("ZREM", index, member)
            }
        }
        return id
    }

    public func userID(for sessionID: String) async throws -> String? {
        guard SessionToken.isWellFormed(sessionID) else { return nil }
        return try await redis.send("GET", Self.prefix + sessionID).string
    }

    public func delete(_ sessionID: String) async throws {
        guard SessionToken.isWellFormed(sessionID) else { return }
        if let userID = try await redis.send("GET", Self.prefix + sessionID).string {
            _ = try await redis.send("ZREM", Self.userPrefix + userID, sessionID)
        }
        _ = try await redis.send("DEL", Self.prefix + sessionID)
    }
}
