import NIOConcurrencyHelpers

/// Caps on the sessions open at once from one client address and for one identity (see
/// ``AllowDecision/allow(_:identity:)``); `nil` is no cap.
public struct SessionLimits: Sendable, Equatable {
    public var perAddress: Int?
    public var perIdentity: Int?

    public init(perAddress: Int? = nil, perIdentity: Int? = nil) {
        self.perAddress = perAddress
        self.perIdentity = perIdentity
    }
}

/// Counts the sessions held per client address and per identity against ``SessionLimits``.
/// A slot is taken when a handshake is admitted, before the session exists (the WebSocket `101`
/// is decided before the session is made), and given back when the session ends or the
/// handshake never becomes one. Pure bookkeeping, no I/O.
struct SessionQuota {
    enum Refusal: Equatable, Sendable {
        case address
        case identity

        var error: EngineError {
            switch self {
            case .address: .forbidden(message: "Too many connections from this address")
            case .identity: .forbidden(message: "Too many connections for this account")
            }
        }
    }

    let limits: SessionLimits
    private(set) var perAddress: [String: Int] = [:]
    private(set) var perIdentity: [String: Int] = [:]

    init(limits: SessionLimits) {
        self.limits = limits
    }

    /// Takes one slot for the address and one for the identity, or neither.
    mutating func reserve(address: String?, identity: String?) -> Refusal? {
        if let address, let cap = limits.perAddress, perAddress[address, default: 0] >= cap { return .address }
        if let identity, let cap = limits.perIdentity, perIdentity[identity, default: 0] >= cap { return .identity }
        if let address, limits.perAddress != nil { perAddress[address, default: 0] += 1 }
        if let identity, limits.perIdentity != nil { perIdentity[identity, default: 0] += 1 }
        return nil
    }

    /// Gives back what ``reserve(address:identity:)`` took.
    mutating func release(address: String?, identity: String?) {
        if let address, limits.perAddress != nil { Self.decrement(&perAddress, address) }
        if let identity, limits.perIdentity != nil { Self.decrement(&perIdentity, identity) }
    }

    private static func decrement(_ counts: inout [String: Int], _ key: String) {
        guard let count = counts[key] else { return }
        if count <= 1 { counts.removeValue(forKey: key) } else { counts[key] = count - 1 }
    }
}

/// One admitted handshake's slot in the quota, given back exactly once: by the session it became,
/// or by the connection that closed before a session was made.
final class SessionReservation: Sendable {
    private enum State {
        case pending
        case adopted
        case released
    }

    let address: String?
    let identity: String?
    private let state = NIOLockedValueBox(State.pending)
    private let giveBack: @Sendable (String?, String?) -> Void

    init(address: String?, identity: String?, giveBack: @escaping @Sendable (String?, String?) -> Void) {
        self.address = address
        self.identity = identity
        self.giveBack = giveBack
    }

    /// The session now holds the slot; it releases it when it ends.
    func adopt() {
        state.withLockedValue { if case .pending = $0 { $0 = .adopted } }
    }

    /// Gives the slot back unless a session took it.
    func releaseIfPending() {
        finish { if case .pending = $0 { true } else { false } }
    }

    /// Gives the slot back (once).
    func release() {
        finish { if case .released = $0 { false } else { true } }
    }

    private func finish(when applies: (State) -> Bool) {
        let release = state.withLockedValue { state -> Bool in
            guard applies(state) else { return false }
            state = .released
            return true
        }
        if release { giveBack(address, identity) }
    }
}
