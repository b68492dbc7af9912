import Foundation
import Logging
import NIOConcurrencyHelpers
import RedisClient

/// Failed sign-ins, counted per account and per client address in fixed windows, shared by every
/// instance through Redis (`auction:login-failures:<kind>:<key>`, expiring with its window), or in
/// this process without Redis. Only failures count: a room of bidders behind one address can all
/// sign in at once.
///
/// - An account with `perAccount` failures in its window is refused before its password is
///   checked, until the window ends (guessing one account's password stays slow).
/// - An address with `perAddress` failures gets `429` for each further failure, not for a right
///   password (credential stuffing across accounts stays slow; the right password still works).
///
/// When Redis is configured but does not answer, this instance counts on its own meanwhile.
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable {
        public var perAccount: Int
        public var perAddress: Int
        public var window: Int

        public init(perAccount: Int, perAddress: Int, window: Int) {
            self.perAccount = perAccount
            self.perAddress = perAddress
            self.window = window
        }
    }

    let limits: Limits
    let redis: RedisClient?
    let logger: Logger
    private let local = LocalFailureCounts()

    public init(limits: Limits, redis: RedisClient?, logger: Logger) {
        self.limits = limits
        self.redis = redis
        self.logger = logger
    }

    /// Seconds until the account may try again, when it is locked out now.
    func lockout(account: String, now: Date = Date()) async -> Int? {
        let (count, remaining) = await failures("account", account, now: now)
        return count >= limits.perAccount ? remaining : nil
    }

    /// Counts a failure; returns seconds to wait when the address is now over its limit (the
    /// account's limit is applied by ``lockout(account:now:)`` before its next attempt).
    func failed(account: String, address: String, now: Date = Date()) async -> Int? {
        _ = await increment("account", account, now: now)
        let (addressCount, addressRemaining) = await increment("address", address, now: now)
        return addressCount > limits.perAddress ? addressRemaining : nil
    }

    /// A right password: the account's failures are forgotten.
    func succeeded(account: String) async {
        let key = Self.key("account", account)
        local.reset(key)
        guard let redis else { return }
        do { _ = try await redis.send("DEL", key) } catch { logFallback(error) }
    }

    static func key(_ kind: String, _ value: String) -> String { "auction:login-failures:\(kind):\(value)" }

    private func failures(_ kind: String, _ value: String, now: Date) async -> (Int, Int) {
        let key = Self.key(kind, value)
        if let redis {
            do {
                let count = try await redis.send("GET", key).string.flatMap(Int.init) ?? 0
                let ttl = try await redis.send("TTL", key).integer ?? 0
                return (count, max(Int(ttl), 1))
            } catch {
                logFallback(error)
            }
        }
        return local.count(key, window: limits.window, now: now)
    }

    private func increment(_ kind: String, _ value: String, now: Date) async -> (Int, Int) {
        let key = Self.key(kind, value)
        if let redis {
            do {
                let count = try await redis.send("INCR", key).integer ?? 1
                _ = try await redis.send("EXPIRE", key, String(limits.window), "NX")
                let ttl = try await redis.send("TTL", key).integer ?? Int64(limits.window)
                return (Int(count), max(Int(ttl), 1))
            } catch {
                logFallback(error)
            }
        }
        return local.increment(key, window: limits.window, now: now)
    }

    private func logFallback(_ error: any Error) {
        logger.warning("login failures counted by this instance alone: Redis unavailable", metadata: ["error": "\(error)"])
    }
}

/// Failure counts in this process: fixed windows, forgotten when they end.
final class LocalFailureCounts: Sendable {
    private struct Window {
        var count: Int
        var ends: Date
    }

    private let windows = NIOLockedValueBox<[String: Window]>([:])

    func count(_ key: String, window: Int, now: Date) -> (Int, Int) {
        windows.withLockedValue { windows in
            guard let current = windows[key], current.ends > now else { return (0, window) }
            return (current.count, Self.seconds(until: current.ends, from: now))
        }
    }

    func increment(_ key: String, window: Int, now: Date) -> (Int, Int) {
        windows.withLockedValue { windows in
            if windows.count > 50_000 { windows = windows.filter { $0.value.ends > now } }
            var current = windows[key].flatMap { $0.ends > now ? $0 : nil } ?? Window(count: 0, ends: now.addingTimeInterval(TimeInterval(window)))
            current.count += 1
            windows[key] = current
            return (current.count, Self.seconds(until: current.ends, from: now))
        }
    }

    func reset(_ key: String) {
        windows.withLockedValue { $0[key] = nil }
    }

    static func seconds(until end: Date, from now: Date) -> Int {
        max(Int(end.timeIntervalSince(now).rounded(.up)), 1)
    }
}
