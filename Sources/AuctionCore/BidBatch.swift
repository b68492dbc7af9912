import Foundation

/// A bid waiting for its item's next batch.
public struct QueuedBid: Sendable, Equatable {
    public var bidder: Bidder
    public var price: Money
    public var clientBidId: String?
    /// When the server received the bid: the rules judge it at this time (end of auction, soft close).
    public var receivedAt: Date

    public init(bidder: Bidder, price: Money, clientBidId: String?, receivedAt: Date) {
        self.bidder = bidder
        self.price = price
        self.clientBidId = clientBidId
        self.receivedAt = receivedAt
    }
}

/// A bid stored before this batch, found by its bidder and `clientBidId`.
public struct ClientBidKey: Hashable, Sendable {
    public var bidderId: String
    public var clientBidId: String

    public init(bidderId: String, clientBidId: String) {
        self.bidderId = bidderId
        self.clientBidId = clientBidId
    }
}

/// A bid the batch accepts.
public struct AcceptedBid: Sendable, Equatable {
    public var bid: QueuedBid
    /// The item right after this bid (current price, highest bidder, end).
    public var item: AuctionItem
    /// The new end when this bid extended the auction (soft close), else nil.
    public var extendedTo: Date?
}

/// The answer for one queued bid, in the order the bids were queued.
public enum BatchVerdict: Sendable, Equatable {
    /// A new bid: `accepted[index]` of the decision.
    case accepted(index: Int)
    /// Its `clientBidId` was stored before the batch: answer with that stored bid.
    case replayOfStored(ClientBidKey)
    /// Its `clientBidId` was accepted earlier in this batch: answer with `accepted[index]`.
    case replayOfAccepted(index: Int)
    case refused(BidRejection)
}

/// What a batch decided: an answer per bid, the bids to commit, and the item once they are.
public struct BatchDecision: Sendable, Equatable {
    /// One per queued bid, in the same order.
    public var verdicts: [BatchVerdict]
    /// In acceptance order, which is arrival order.
    public var accepted: [AcceptedBid]
    /// The item after the whole batch.
    public var item: AuctionItem
}

/// Decides the bids queued for one item while a commit was in flight, without I/O, so the losers
/// are answered from memory and only the winners reach the database.
public enum BidBatch {
    /// Decides `bids` in arrival order against `item` (the committed state), as if each were decided
    /// alone right after the ones before it. `stored` holds the clientBidIds already stored for the
    /// bidders of this batch.
    ///
    /// Each bid is judged at its own `receivedAt`, against the end as extended by the bids accepted
    /// before it in the batch: how long it waited in the queue never decides it.
    public static func decide(item: AuctionItem, bids: [QueuedBid], stored: Set<ClientBidKey>) -> BatchDecision {
        var working = item
        var verdicts: [BatchVerdict] = []
        verdicts.reserveCapacity(bids.count)
        var accepted: [AcceptedBid] = []
        // Keys accepted so far in this batch: a retry that arrives before the commit must get the
        // first answer, not be decided again (it would be too low, or worse, a second winner).
        var acceptedKeys: [ClientBidKey: Int] = [:]

        for bid in bids {
            let key = bid.clientBidId.map { ClientBidKey(bidderId: bid.bidder.id, clientBidId: $0) }
            if let key {
                // A replay is answered whatever its price or the item's state: the first answer stands.
                if stored.contains(key) {
                    verdicts.append(.replayOfStored(key))
                    continue
                }
                if let index = acceptedKeys[key] {
                    verdicts.append(.replayOfAccepted(index: index))
                    continue
                }
            }
            switch BidRules.evaluate(price: bid.price, for: working, at: bid.receivedAt) {
            case .failure(let rejection):
                // Not remembered: a refusal is not stored, so the same id may be decided again.
                verdicts.append(.refused(rejection))
            case .success:
                working.currentPrice = bid.price
                working.highestBidder = bid.bidder
                // Never moves the end earlier, even if a bid arrived out of order.
                let extendedTo = SoftClose.extendedEnd(endsAt: working.endsAt, acceptedAt: bid.receivedAt)
                if let extendedTo { working.endsAt = extendedTo }
                let index = accepted.count
                accepted.append(AcceptedBid(bid: bid, item: working, extendedTo: extendedTo))
                if let key { acceptedKeys[key] = index }
                verdicts.append(.accepted(index: index))
            }
        }
        return BatchDecision(verdicts: verdicts, accepted: accepted, item: working)
    }
}
