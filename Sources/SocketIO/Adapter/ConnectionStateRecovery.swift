import Foundation
import NIOConcurrencyHelpers

/// Connection state recovery, as Node's `connectionStateRecovery` server option: a socket whose
/// connection dropped (not one that left on purpose) is kept — id, rooms, `data` — for
/// `maxDisconnectionDuration`, and every broadcast meanwhile with it; a client that reconnects
/// with its `pid` and the offset of the last event it got is given the same socket back and the
/// events it missed, in order, before the CONNECT reply. Off unless set.
public struct ConnectionStateRecovery: Sendable, Equatable {
    /// How long a dropped socket can come back (Node: 2 minutes).
    public var maxDisconnectionDuration: Duration
    /// A recovered socket does not run the namespace's middlewares again (Node: true).
    public var skipMiddlewares: Bool
    /// The in-process log keeps at most this many broadcasts (besides the time bound); a client
    /// whose offset was dropped gets a new session. Node's log has no size bound.
    public var maximumPackets: Int
    /// Decides whether the new connection (its handshake: headers, auth, attachments) may take
    /// the kept socket — before anything is replayed. With `skipMiddlewares`, nothing else checks
    /// who reconnects with a pid: an application with identities should compare them here. Not in
    /// Node; nil accepts every restore, as Node does.
    public var shouldRestore: (@Sendable (Handshake, RecoverableSession) async -> Bool)?

    public init(
        maxDisconnectionDuration: Duration = .seconds(120),
        skipMiddlewares: Bool = true,
        maximumPackets: Int = 100_000,
        shouldRestore: (@Sendable (Handshake, RecoverableSession) async -> Bool)? = nil
    ) {
        self.maxDisconnectionDuration = maxDisconnectionDuration
        self.skipMiddlewares = skipMiddlewares
        self.maximumPackets = maximumPackets
        self.shouldRestore = shouldRestore
    }

    public static func == (lhs: ConnectionStateRecovery, rhs: ConnectionStateRecovery) -> Bool {
        lhs.maxDisconnectionDuration == rhs.maxDisconnectionDuration && lhs.skipMiddlewares == rhs.skipMiddlewares
            && lhs.maximumPackets == rhs.maximumPackets && (lhs.shouldRestore == nil) == (rhs.shouldRestore == nil)
    }
}

/// A socket kept after its connection dropped.
public struct RecoverableSession: Sendable, Equatable {
    public var id: String
    public var pid: String
    public var rooms: Set<String>
    public var data: JSONValue

    public init(id: String, pid: String, rooms: Set<String>, data: JSONValue) {
        self.id = id
        self.pid = pid
        self.rooms = rooms
        self.data = data
    }
}

/// A session given back, with the event arrays it missed (each ending with its offset).
public struct RestoredSession: Sendable, Equatable {
    public var session: RecoverableSession
    public var missedPackets: [[JSONValue]]

    public init(session: RecoverableSession, missedPackets: [[JSONValue]]) {
        self.session = session
        self.missedPackets = missedPackets
    }
}

/// The in-process store of the in-memory adapter: dropped sessions by pid, and the broadcasts
/// (with their offsets) of the last `maxDisconnectionDuration`, at most `maximumPackets`.
final class RecoveryLog: Sendable {
    struct Entry: Sendable {
        var offset: String
        var options: BroadcastOptions
        var data: [JSONValue]
        var at: ContinuousClock.Instant
    }

    private struct State {
        var sessions: [String: (session: RecoverableSession, at: ContinuousClock.Instant)] = [:]
        var packets: [Entry] = []
        /// Index of the first live entry of `packets` (dropped ones are compacted in bulk).
        var start = 0
        var lastMillisecond: Int64 = -1
        var sameMillisecond = 0
    }

    let configuration: ConnectionStateRecovery
    private let state = NIOLockedValueBox(State())

    init(configuration: ConnectionStateRecovery) {
        self.configuration = configuration
    }

    /// Appends the offset to the event's data and logs it; returns the data to send.
    func record(_ data: [JSONValue], options: BroadcastOptions) -> [JSONValue] {
        let now = ContinuousClock.now
        return state.withLockedValue { state in
            let offset = Self.nextOffset(&state)
            let stamped = data + [.string(offset)]
            state.packets.append(Entry(offset: offset, options: options, data: stamped, at: now))
            prune(&state, now: now)
            return stamped
        }
    }

    func persist(_ session: RecoverableSession) {
        let now = ContinuousClock.now
        state.withLockedValue { state in
            state.sessions[session.pid] = (session, now)
            prune(&state, now: now)
        }
    }

    func restore(pid: String, offset: String) -> RestoredSession? {
        let now = ContinuousClock.now
        return state.withLockedValue { state -> RestoredSession? in
            prune(&state, now: now)
            guard let (session, _) = state.sessions[pid] else { return nil }
            guard let missed = Self.entries(after: offset, rooms: session.rooms, in: state) else { return nil }
            return RestoredSession(session: session, missedPackets: missed)
        }
    }

    /// The logged events for `rooms` after `offset` (none when the offset is gone).
    func missed(after offset: String, rooms: Set<String>) -> [[JSONValue]] {
        state.withLockedValue { Self.entries(after: offset, rooms: rooms, in: $0) ?? [] }
    }

    private static func entries(after offset: String, rooms: Set<String>, in state: State) -> [[JSONValue]]? {
        guard let index = state.packets[state.start...].firstIndex(where: { $0.offset == offset }) else { return nil }
        return state.packets[(index + 1)...].filter { $0.options.reaches(rooms: rooms) }.map(\.data)
    }

    private func prune(_ state: inout State, now: ContinuousClock.Instant) {
        let threshold = now - configuration.maxDisconnectionDuration
        while state.start < state.packets.count,
            state.packets[state.start].at < threshold || state.packets.count - state.start > configuration.maximumPackets
        {
            state.start += 1
        }
        if state.start > 1024, state.start * 2 > state.packets.count {
            state.packets.removeFirst(state.start)
            state.start = 0
        }
        if state.sessions.count > 0, state.sessions.values.contains(where: { $0.at < threshold }) {
            state.sessions = state.sessions.filter { $0.value.at >= threshold }
        }
    }

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_")

    /// Node's `yeast()`: the time in ms in base 64, then `.` and a counter for later ids of the
    /// same millisecond.
    private static func nextOffset(_ state: inout State) -> String {
        let millisecond = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        var text = encode(millisecond)
        if millisecond == state.lastMillisecond {
            text += "." + encode(Int64(state.sameMillisecond))
            state.sameMillisecond += 1
        } else {
            state.lastMillisecond = millisecond
            state.sameMillisecond = 0
        }
        return text
    }

    private static func encode(_ value: Int64) -> String {
        var value = value
        var digits: [Character] = []
        repeat {
            digits.append(alphabet[Int(value % 64)])
            value /= 64
        } while value > 0
        return String(digits.reversed())
    }
}
