import Foundation
import Logging
import NIOConcurrencyHelpers
import RedisClient

/// Bids per user, across every instance: a token bucket per user in Redis
/// (`auction:bid-rate:{<userId>}`, one Lua script so two instances cannot both take the last
/// token), judged at the time each bid arrived. Each instance also keeps the user's bucket in
/// memory: a bid it refuses is refused without asking Redis (what one instance saw alone is
/// already over the limit), and while Redis does not answer, or without Redis, it decides alone.
struct BidLimiter: Sendable {
    struct Limits: Sendable, Equatable {
        /// Bids a user may place at once (`BID_BURST`).
        var burst: Int
        /// Bids a second a user may keep up (`BID_RATE`).
        var perSecond: Int
    }

    let limits: Limits
    let redis: RedisClient?
    let logger: Logger
    private let local: RateLimiter
    /// When a fallback was last logged: once a minute is enough to say Redis is away.
    private let lastFallbackLog = NIOLockedValueBox<Date?>(nil)

    init(limits: Limits, redis: RedisClient?, logger: Logger) {
        self.limits = limits
        self.redis = redis
        self.logger = logger
        self.local = RateLimiter(capacity: Double(limits.burst), perSecond: Double(limits.perSecond))
    }

    static func key(_ userID: String) -> String { "auction:bid-rate:{\(userID)}" }

    /// Takes a token from the bucket and sets it back, in milliseconds since the epoch; never
    /// winds the bucket's clock back (a bid judged earlier than the last one refills nothing).
    /// Returns 1 when the bid may go on. The key expires once the bucket would be full again.
    static let script = """
        local capacity = tonumber(ARGV[1])
        local perMillisecond = tonumber(ARGV[2]) / 1000
        local now = tonumber(ARGV[3])
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1]) or capacity
        local at = tonumber(state[2]) or now
        if now > at then
          tokens = math.min(capacity, tokens + (now - at) * perMillisecond)
          at = now
        end
        local allowed = 0
        if tokens >= 1 then
          tokens = tokens - 1
          allowed = 1
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
        redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / perMillisecond) + 1000)
        return allowed
        """

    func allow(_ userID: String, now: Date) async -> Bool {
        guard local.allow(userID, now: now) else { return false }
        guard let redis else { return true }
        let milliseconds = String(Int64((now.timeIntervalSince1970 * 1000).rounded(.down)))
        do {
            let answer = try await redis.send(
                "EVAL", Self.script, "1", Self.key(userID), String(limits.burst), String(limits.perSecond), milliseconds
            )
            guard let allowed = answer.integer else {
                throw RedisError.protocolError("the bid limit script answered \(answer)")
            }
            return allowed == 1
        } catch {
            logFallback(error)
            return true
        }
    }

    private func logFallback(_ error: any Error) {
        let now = Date()
        let due = lastFallbackLog.withLockedValue { last -> Bool in
            guard last.map({ now.timeIntervalSince($0) >= 60 }) ?? true else { return false }
            last = now
            return true
        }
        if due {
            logger.warning("bid limit counted by this instance alone: Redis did not answer", metadata: ["error": "\(error)"])
        }
    }
}
