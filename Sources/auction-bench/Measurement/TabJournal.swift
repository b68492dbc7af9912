import NIOConcurrencyHelpers

/// Everything one auction tab saw, in order, for the audit after the run: the `bid` events it
/// received and the bids it placed that were accepted. Written on the tab's event loop, read
/// once the run is over.
final class TabJournal: Sendable {
    struct Delivery: Sendable {
        var bidID: Int64
        var price: Int64
        var receivedAt: Int64
        /// `mine` disagreed with whether the bidder is this tab's user.
        var wrongMine: Bool
        /// `text` was not `You…` for one's own bid, or `<name>: <price>` for another's.
        var wrongText: Bool
    }

    struct Placement: Sendable {
        var bidID: Int64
        var price: Int64
        var sentAt: Int64
    }

    struct Entries: Sendable {
        /// The tab received `auction:state`, so it was in the room before bidding started.
        var ready = false
        var deliveries: [Delivery] = []
        var placements: [Placement] = []
    }

    /// Which user and tab this is, for the audit's examples.
    let user: Int
    let tab: Int
    private let entries = NIOLockedValueBox(Entries())

    init(user: Int, tab: Int) {
        self.user = user
        self.tab = tab
    }

    func stateReceived() {
        entries.withLockedValue { $0.ready = true }
    }

    func delivered(_ delivery: Delivery) {
        entries.withLockedValue { $0.deliveries.append(delivery) }
    }

    func placed(_ placement: Placement) {
        entries.withLockedValue { $0.placements.append(placement) }
    }

    var snapshot: Entries { entries.withLockedValue { $0 } }
}
