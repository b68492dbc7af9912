import Foundation
import RedisClient

/// Sign-ins in Redis, shared by every instance. A sign-in is the hash
/// `auction:signin:{<id>}` (user, current secret, previous secret, when it rotated), expiring
/// ``SignInRules/lifetime`` after its last refresh; an ended one leaves
/// `auction:signin-ended:{<id>}` for as long as its access tokens live; each user's sign-ins
/// are the set `auction:user-signins:<userId>`. A rotation is one Lua script, so two instances
/// refreshing the same token cannot both spend it. The hash tag keeps a sign-in's keys on one
/// Redis Cluster shard.
public struct RedisSignInStore: SignInStore {
    let redis: RedisClient
    let rules: SignInRules

    public init(redis: RedisClient, rules: SignInRules) {
        self.redis = redis
        self.rules = rules
    }

    static func recordKey(_ id: String) -> String { "auction:signin:{\(id)}" }
    static func endedKey(_ id: String) -> String { "auction:signin-ended:{\(id)}" }
    static func userKey(_ userID: String) -> String { "auction:user-signins:\(userID)" }

    /// KEYS: record, ended marker. ARGV: presented secret, next secret, now (ms), lifetime (s),
    /// grace (ms), access token lifetime (s). Answers {0} unknown, {1, user, secret} rotated (the
    /// secret to hand out), {2, user} reused (the sign-in is ended here).
    static let rotation = """
        local rec = redis.call('HMGET', KEYS[1], 'user', 'current', 'previous', 'rotated')
        if not rec[1] then return {0} end
        if rec[2] == ARGV[1] then
          redis.call('HSET', KEYS[1], 'current', ARGV[2], 'previous', ARGV[1], 'rotated', ARGV[3])
          redis.call('EXPIRE', KEYS[1], ARGV[4])
          return {1, rec[1], ARGV[2]}
        end
        if rec[3] == ARGV[1] and tonumber(ARGV[3]) - tonumber(rec[4]) <= tonumber(ARGV[5]) then
          return {1, rec[1], rec[2]}
        end
        redis.call('DEL', KEYS[1])
        redis.call('SET', KEYS[2], '1', 'EX', ARGV[6])
        return {2, rec[1]}
        """

    public func start(userID: String, now: Date) async throws -> RefreshToken {
        let token = RefreshToken.make()
        let lifetime = String(Int(rules.lifetime))
        let key = Self.recordKey(token.signInID)
        _ = try await redis.send("HSET", key, "user", userID, "current", token.secret, "rotated", Self.milliseconds(now))
        _ = try await redis.send("EXPIRE", key, lifetime)
        _ = try await redis.send("SADD", Self.userKey(userID), token.signInID)
        _ = try await redis.send("EXPIRE", Self.userKey(userID), lifetime)
        return token
    }

    public func rotate(_ token: RefreshToken, now: Date) async throws -> RotationOutcome {
        let next = RefreshToken.make(signInID: token.signInID)
        let reply = try await redis.send(
            "EVAL", Self.rotation, "2", Self.recordKey(token.signInID), Self.endedKey(token.signInID),
            token.secret, next.secret, Self.milliseconds(now), String(Int(rules.lifetime)),
            String(Int(SignInRules.reuseGrace * 1000)), String(Int(rules.accessTokenLifetime))
        )
        guard case .array(let items?) = reply, let kind = items.first?.integer else {
            throw RedisError.protocolError("unexpected rotation reply \(reply)")
        }
        switch kind {
        case 1:
            guard items.count == 3, let userID = items[1].string, let secret = items[2].string else { break }
            return .rotated(userID: userID, next: RefreshToken(signInID: token.signInID, secret: secret))
        case 2:
            guard items.count == 2, let userID = items[1].string else { break }
            _ = try await redis.send("SREM", Self.userKey(userID), token.signInID)
            return .reused(userID: userID)
        default:
            return .unknown
        }
        throw RedisError.protocolError("unexpected rotation reply \(reply)")
    }

    public func end(signInID: String, now: Date) async throws {
        let userID = try await redis.send("HGET", Self.recordKey(signInID), "user").string
        _ = try await redis.send("SET", Self.endedKey(signInID), "1", "EX", String(Int(rules.accessTokenLifetime)))
        _ = try await redis.send("DEL", Self.recordKey(signInID))
        if let userID { _ = try await redis.send("SREM", Self.userKey(userID), signInID) }
    }

    public func endAll(userID: String, now: Date) async throws -> [String] {
        guard case .array(let members?) = try await redis.send("SMEMBERS", Self.userKey(userID)) else { return [] }
        let ids = members.compactMap(\.string)
        for id in ids { try await end(signInID: id, now: now) }
        return ids
    }

    public func isRevoked(signInID: String) async throws -> Bool {
        try await redis.send("EXISTS", Self.endedKey(signInID)).integer == 1
    }

    static func milliseconds(_ date: Date) -> String {
        String(Int64(date.timeIntervalSince1970 * 1000))
    }
}
