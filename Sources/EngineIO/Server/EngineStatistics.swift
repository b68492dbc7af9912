import NIOConcurrencyHelpers
import Synchronization

/// What an Engine.IO server has done since it started, for metrics: messages each way, upgrades,
/// and requests refused by reason. Counting is an atomic increment per message; nothing here
/// is read on the hot path.
public final class EngineStatistics: Sendable {
    /// Why a handshake or a session request was refused.
    public enum Refusal: String, Sendable, CaseIterable {
        /// A foreign `Origin`.
        case origin
        /// `allowRequest` denied the handshake.
        case denied
        /// `sessionLimits`: too many sessions from the address, or for the identity.
        case tooManyForAddress = "too_many_for_address"
        case tooManyForIdentity = "too_many_for_identity"
        /// The server is shutting down.
        case shuttingDown = "shutting_down"
        /// A later request of a session showed another identity.
        case identity
    }

    private let received = Atomic<Int>(0)
    private let sent = Atomic<Int>(0)
    private let upgraded = Atomic<Int>(0)
    private let opened = Atomic<Int>(0)
    private let refused = NIOLockedValueBox<[Refusal: Int]>([:])

    public init() {}

    /// Messages received from clients (Engine.IO `message` packets).
    public var messagesReceived: Int { received.load(ordering: .relaxed) }
    /// Messages queued for clients.
    public var messagesSent: Int { sent.load(ordering: .relaxed) }
    /// Polling sessions that upgraded to WebSocket.
    public var upgrades: Int { upgraded.load(ordering: .relaxed) }
    /// Sessions opened (handshakes accepted).
    public var sessionsOpened: Int { opened.load(ordering: .relaxed) }
    /// Refusals by reason; every reason is present.
    public var refusals: [Refusal: Int] {
        let counted = refused.withLockedValue { $0 }
        return Dictionary(uniqueKeysWithValues: Refusal.allCases.map { ($0, counted[$0] ?? 0) })
    }

    func countReceived() { received.add(1, ordering: .relaxed) }
    func countSent(_ count: Int) { sent.add(count, ordering: .relaxed) }
    func countUpgrade() { upgraded.add(1, ordering: .relaxed) }
    func countOpened() { opened.add(1, ordering: .relaxed) }
    func countRefusal(_ reason: Refusal) { refused.withLockedValue { $0[reason, default: 0] += 1 } }
}
