import Foundation
import NIOConcurrencyHelpers

/// Maps `session_id` cookies to users for `SESSION_TTL` seconds. The Redis store lets every
/// instance resolve every session; the in-process one serves a single instance.
///
/// A user holds at most ``SessionToken/maximumPerUser`` sessions: creating one more drops the
/// oldest, so handshakes without a cookie cannot pile up records.
public protocol SessionStore: Sendable {
    /// Creates a session for the user and returns its id (≥ 128 random bits).
    func create(userID: String, ttl: Int) async throws -> String
    /// The user of a live session, if any.
    func userID(for sessionID: String) async throws -> String?
    func delete(_ sessionID: String) async throws
}

enum SessionToken {
    /// Sessions one user keeps at once: one per browser, with room for many devices.
    static let maximumPerUser = 8

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

    private struct Entries {
        var byID: [String: Entry] = [:]
        /// Each user's session ids, oldest first.
        var byUser: [String: [String]] = [:]

        mutating func remove(_ id: String) {
            guard let entry = byID.removeValue(forKey: id) else { return }
            byUser[entry.userID]?.removeAll { $0 == id }
            if byUser[entry.userID]?.isEmpty == true { byUser.removeValue(forKey: entry.userID) }
        }
    }

    private let entries = NIOLockedValueBox(Entries())

    public init() {}

    public func create(userID: String, ttl: Int) async throws -> String {
        let id = SessionToken.make()
        let now = Date()
        entries.withLockedValue { entries in
            for old in entries.byUser[userID] ?? [] where entries.byID[old].map({ $0.expires <= now }) ?? true {
                entries.remove(old)
            }
            entries.byID[id] = Entry(userID: userID, expires: now.addingTimeInterval(TimeInterval(ttl)))
            entries.byUser[userID, default: []].append(id)
            while let ids = entries.byUser[userID], ids.count > SessionToken.maximumPerUser {
                entries.remove(ids[0])
            }
        }
        return id
    }

    public func userID(for sessionID: String) async throws -> String? {
        let now = Date()
        return entries.withLockedValue { entries in
            guard let entry = entries.byID[sessionID] else { return nil }
            guard entry.expires > now else {
                entries.remove(sessionID)
                return nil
            }
            return entry.userID
        }
    }

    public func delete(_ sessionID: String) async throws {
        entries.withLockedValue { $0.remove(sessionID) }
    }

    /// Sessions held for the user (for tests).
    func count(userID: String) -> Int {
        entries.withLockedValue { $0.byUser[userID]?.count ?? 0 }
    }
}
