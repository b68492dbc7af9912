import NIOConcurrencyHelpers

/// How many benchmark clients are connected right now, shared by every event loop. Drops are
/// counted separately from the closes the benchmark itself makes at the end.
final class ConnectionCensus: Sendable {
    struct Counts: Sendable {
        var established = 0
        var lost = 0
        /// Connections the server (or the network) closed while the benchmark still needed them.
        var dropped = 0
        var protocolViolations = 0
        var open: Int { established - lost }
    }

    private let state = NIOLockedValueBox((counts: Counts(), shuttingDown: false))

    var counts: Counts { state.withLockedValue { $0.counts } }

    func connectionEstablished() {
        state.withLockedValue { $0.counts.established += 1 }
    }

    func connectionLost() {
        state.withLockedValue {
            $0.counts.lost += 1
            if !$0.shuttingDown { $0.counts.dropped += 1 }
        }
    }

    func protocolViolation() {
        state.withLockedValue { $0.counts.protocolViolations += 1 }
    }

    /// From now on closes are the benchmark's own doing.
    func beginShutdown() {
        state.withLockedValue { $0.shuttingDown = true }
    }
}
