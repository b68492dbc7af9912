import Foundation
import NIOConcurrencyHelpers

/// The `session_id` cookies this instance issued or verified at a handshake, with their user, so
/// the later requests of a session (polling, the upgrade) can show whose they are without a
/// Redis round trip each: a polling session then lives through a Redis outage, and through its
/// record being dropped for the user's cap, as a WebSocket session does. Sessions are sticky to
/// the instance that opened them, so the cookie a session's requests carry was seen here.
///
/// Bounded: entries expire after `SESSION_TTL`, and past `capacity` (100,000: about 15 MB)
/// the oldest go first.
final class KnownSessionCookies: Sendable {
    let capacity: Int

    private struct Entry {
        var userID: String
        var expires: Date
        var sequence: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Cookies in the order they were remembered, for eviction; a cookie remembered again
        /// leaves a stale element behind, told apart by its sequence number.
        var order: [(cookie: String, sequence: Int)] = []
        var head = 0
        var sequence = 0
    }

    private let state = NIOLockedValueBox(State())
    private let lifetime: TimeInterval

    init(lifetime: TimeInterval, capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func remember(_ cookie: String, userID: String, now: Date = Date()) {
        state.withLockedValue { state in
            state.sequence += 1
            state.entries[cookie] = Entry(userID: userID, expires: now.addingTimeInterval(lifetime), sequence: state.sequence)
            state.order.append((cookie, state.sequence))
            while state.entries.count > capacity, state.head < state.order.count {
                let oldest = state.order[state.head]
                state.head += 1
                if state.entries[oldest.cookie]?.sequence == oldest.sequence {
                    state.entries.removeValue(forKey: oldest.cookie)
                }
            }
            // Keep the eviction queue from growing without bound.
            if state.head > 4096, state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// The user of a cookie remembered and not expired.
    func userID(for cookie: String, now: Date = Date()) -> String? {
        state.withLockedValue { state in
            guard let entry = state.entries[cookie] else { return nil }
            guard entry.expires > now else {
                state.entries.removeValue(forKey: cookie)
                return nil
            }
            return entry.userID
        }
    }

    func forget(_ cookie: String) {
        state.withLockedValue { _ = $0.entries.removeValue(forKey: cookie) }
    }

    var count: Int { state.withLockedValue { $0.entries.count } }
}
