import Foundation
import NIOConcurrencyHelpers

/// Maps `session_id` cookies to users for `SESSION_TTL` seconds. The Redis store lets every
/// instance resolve every session; the in-process one serves a single instance.
public protocol SessionStore: Sendable {
    /// Creates a session for the user and returns its id (≥ 128 random bits).
    func create(userID: String, ttl: Int) async throws -> String
    /// The user of a live session, if any.
    func userID(for sessionID: String) async throws -> String?
    func delete(_ sessionID: String) async throws
}

enum SessionToken {
    /// 256 random bits, hex.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    static func isWellFormed(_ id: String) -> Bool {
        id.count == 64 && id.allSatisfy(\.isHexDigit)
    }
}

/// Sessions in this process's memory, for a single instance (`REDIS_URL` unset).
public final class InMemorySessionStore: SessionStore {
    private struct Entry {
        var userID: String
        var expires: Date
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init() {}

    public func create(userID: String, ttl: Int) async throws -> String {
        let id = SessionToken.make()
        let now = Date()
        entries.withLockedValue { entries in
            if entries.count > 100_000 { entries = entries.filter { $0.value.expires > now } }
            entries[id] = Entry(userID: userID, expires: now.addingTimeInterval(TimeInterval(ttl)))
        }
        return id
    }

    public func userID(for sessionID: String) async throws -> String? {
        let now = Date()
        return entries.withLockedValue { entries in
            guard let entry = entries[sessionID] else { return nil }
            guard entry.expires > now else {
                entries.removeValue(forKey: sessionID)
                return nil
            }
            return entry.userID
        }
    }

    public func delete(_ sessionID: String) async throws {
        entries.withLockedValue { _ = $0.removeValue(forKey: sessionID) }
    }
}
