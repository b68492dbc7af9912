import Foundation
import NIOConcurrencyHelpers

/// A sign-in: what one successful login starts, and what its refresh tokens and access tokens
/// belong to. Its id is the `sid` claim of every access token issued for it; a refresh token is
/// `<sign-in id>.<secret>`, and each refresh spends the one presented and issues the next.
///
/// Presenting a spent refresh token means two parties hold the family (the token was copied):
/// the whole sign-in is revoked. The one exception is the token spent just before the current
/// one, within ``SignInRules/reuseGrace`` of its rotation: two tabs of one browser that refresh
/// at the same moment both present it, and the later one is given the current token instead.
public protocol SignInStore: Sendable {
    /// Starts a sign-in for the user; returns its id and first refresh token.
    func start(userID: String, now: Date) async throws -> RefreshToken
    /// Spends `token` and returns the next one, or says why not.
    func rotate(_ token: RefreshToken, now: Date) async throws -> RotationOutcome
    /// Ends one sign-in: its refresh token is refused, its access tokens are revoked.
    func end(signInID: String, now: Date) async throws
    /// Ends every sign-in of the user ("sign out everywhere"); returns their ids.
    func endAll(userID: String, now: Date) async throws -> [String]
    /// Whether the sign-in was ended (its access tokens are then refused).
    func isRevoked(signInID: String) async throws -> Bool
}

/// What presenting a refresh token led to.
public enum RotationOutcome: Sendable, Equatable {
    /// Spent; `next` is the sign-in's refresh token from now on.
    case rotated(userID: String, next: RefreshToken)
    /// Already spent before: the sign-in is ended (it was, or is now).
    case reused(userID: String)
    /// No such sign-in (never was, ended, or expired).
    case unknown
}

/// `<sign-in id>.<secret>`, each 128 random bits in hex.
public struct RefreshToken: Sendable, Equatable, CustomStringConvertible {
    public var signInID: String
    public var secret: String

    public init(signInID: String, secret: String) {
        self.signInID = signInID
        self.secret = secret
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, Self.isWellFormedPart(parts[0]), Self.isWellFormedPart(parts[1]) else { return nil }
        self.init(signInID: String(parts[0]), secret: String(parts[1]))
    }

    static func make(signInID: String = randomPart()) -> RefreshToken {
        RefreshToken(signInID: signInID, secret: randomPart())
    }

    public var description: String { "\(signInID).\(secret)" }

    static func randomPart() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    static func isWellFormedPart(_ part: Substring) -> Bool {
        part.count == 32 && part.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

/// The lifetimes every store applies.
public struct SignInRules: Sendable {
    /// A sign-in lives this long after its last refresh (`REFRESH_TOKEN_TTL`).
    public var lifetime: TimeInterval
    /// How long the revocation of an access token must be remembered: its lifetime.
    public var accessTokenLifetime: TimeInterval
    /// Two tabs refreshing at once: the token spent just before is still answered for this long.
    public static let reuseGrace: TimeInterval = 10

    public init(lifetime: TimeInterval, accessTokenLifetime: TimeInterval) {
        self.lifetime = lifetime
        self.accessTokenLifetime = accessTokenLifetime
    }
}

/// Sign-ins in this process's memory, for a single instance (`REDIS_URL` unset).
public final class InMemorySignInStore: SignInStore {
    private struct Record {
        var userID: String
        var current: String
        var previous: String?
        var rotatedAt: Date
        var expires: Date
    }

    private struct State {
        var records: [String: Record] = [:]
        /// Ended sign-ins, until their access tokens have expired.
        var ended: [String: Date] = [:]
    }

    private let rules: SignInRules
    private let state = NIOLockedValueBox(State())

    public init(rules: SignInRules) {
        self.rules = rules
    }

    public func start(userID: String, now: Date) async throws -> RefreshToken {
        let token = RefreshToken.make()
        state.withLockedValue { state in
            state.records = state.records.filter { $0.value.expires > now }
            state.records[token.signInID] = Record(
                userID: userID, current: token.secret, previous: nil, rotatedAt: now, expires: now.addingTimeInterval(rules.lifetime)
            )
        }
        return token
    }

    public func rotate(_ token: RefreshToken, now: Date) async throws -> RotationOutcome {
        state.withLockedValue { state in
            guard var record = state.records[token.signInID], record.expires > now else { return .unknown }
            if token.secret == record.current {
                let next = RefreshToken.make(signInID: token.signInID)
                record.previous = record.current
                record.current = next.secret
                record.rotatedAt = now
                record.expires = now.addingTimeInterval(rules.lifetime)
                state.records[token.signInID] = record
                return .rotated(userID: record.userID, next: next)
            }
            if token.secret == record.previous, now.timeIntervalSince(record.rotatedAt) <= SignInRules.reuseGrace {
                return .rotated(userID: record.userID, next: RefreshToken(signInID: token.signInID, secret: record.current))
            }
            state.records[token.signInID] = nil
            state.ended[token.signInID] = now.addingTimeInterval(rules.accessTokenLifetime)
            return .reused(userID: record.userID)
        }
    }

    public func end(signInID: String, now: Date) async throws {
        state.withLockedValue { state in
            state.records[signInID] = nil
            state.ended = state.ended.filter { $0.value > now }
            state.ended[signInID] = now.addingTimeInterval(rules.accessTokenLifetime)
        }
    }

    public func endAll(userID: String, now: Date) async throws -> [String] {
        state.withLockedValue { state in
            let ids = state.records.filter { $0.value.userID == userID }.map(\.key)
            for id in ids {
                state.records[id] = nil
                state.ended[id] = now.addingTimeInterval(rules.accessTokenLifetime)
            }
            return ids
        }
    }

    public func isRevoked(signInID: String) async throws -> Bool {
        state.withLockedValue { $0.ended[signInID] != nil }
    }
}
