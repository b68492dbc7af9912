import NIOConcurrencyHelpers

/// What the auction tabs of one event loop have counted, for the live timeline and the totals.
/// One tally per loop keeps the lock uncontended; per-bid detail lives in each tab's `TabJournal`.
final class AuctionTally: Sendable {
    struct Counts: Sendable {
        /// Tabs that have received `auction:state`.
        var ready = 0
        var sent = 0
        var acked = 0
        var accepted = 0
        /// Refused bids by the ack's `error.code`.
        var rejected: [String: Int] = [:]
        /// `bid` events received, at every tab.
        var delivered = 0
        /// `auction:extended`, `auction:closed`, `auction:error`.
        var auctionEvents: [String: Int] = [:]
        /// Events and acks the scenario does not know.
        var unrecognized = 0
        var ackLatency = LatencyHistogram()
        var acceptedAckLatency = LatencyHistogram()

        var rejectedTotal: Int { rejected.values.reduce(0, +) }

        mutating func merge(_ other: Counts) {
            ready += other.ready
            sent += other.sent
            acked += other.acked
            accepted += other.accepted
            rejected.merge(other.rejected, uniquingKeysWith: +)
            delivered += other.delivered
            auctionEvents.merge(other.auctionEvents, uniquingKeysWith: +)
            unrecognized += other.unrecognized
            ackLatency.merge(other.ackLatency)
            acceptedAckLatency.merge(other.acceptedAckLatency)
        }
    }

    private let counts = NIOLockedValueBox(Counts())

    func update(_ body: (inout Counts) -> Void) {
        counts.withLockedValue { body(&$0) }
    }

    var snapshot: Counts { counts.withLockedValue { $0 } }

    static func merged(_ tallies: [AuctionTally]) -> Counts {
        var total = Counts()
        for tally in tallies { total.merge(tally.snapshot) }
        return total
    }
}
