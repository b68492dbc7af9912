import NIOConcurrencyHelpers

/// What the fanout clients of one event loop have counted. One tally per loop keeps the lock
/// uncontended on the hot path; the reporter merges snapshots of all of them once a second.
final class FanoutTally: Sendable {
    struct Counts: Sendable {
        var sent = 0
        var acked = 0
        /// Acks whose payload was not `{ok: true}`.
        var rejected = 0
        var delivered = 0
        /// Deliveries whose `seq` skipped ahead of the emitter's previous one at that socket.
        var gaps = 0
        /// Deliveries whose `seq` was not above the previous one from that emitter (duplicates or reordering).
        var outOfOrder = 0
        /// Events or acks that did not carry a bid the benchmark sent.
        var unrecognized = 0
        var ackLatency = LatencyHistogram()
        var deliveryLatency = LatencyHistogram()

        mutating func merge(_ other: Counts) {
            sent += other.sent
            acked += other.acked
            rejected += other.rejected
            delivered += other.delivered
            gaps += other.gaps
            outOfOrder += other.outOfOrder
            unrecognized += other.unrecognized
            ackLatency.merge(other.ackLatency)
            deliveryLatency.merge(other.deliveryLatency)
        }
    }

    private let counts = NIOLockedValueBox(Counts())

    func update(_ body: (inout Counts) -> Void) {
        counts.withLockedValue { body(&$0) }
    }

    var snapshot: Counts { counts.withLockedValue { $0 } }

    static func merged(_ tallies: [FanoutTally]) -> Counts {
        var total = Counts()
        for tally in tallies { total.merge(tally.snapshot) }
        return total
    }
}
