import Foundation

/// Why a bid was not accepted, with the code and sentence the bidder is told.
public enum BidRejection: Error, Sendable, Equatable {
    case bidTooLow(minimum: Money)
    case auctionClosed
    case itemNotFound
    case invalidPayload(String)
    case rateLimited
    case unauthorized
    /// Storage is unreachable; nothing was recorded.
    case unavailable

    public var code: String {
        switch self {
        case .bidTooLow: "BID_TOO_LOW"
        case .auctionClosed: "AUCTION_CLOSED"
        case .itemNotFound: "ITEM_NOT_FOUND"
        case .invalidPayload: "INVALID_PAYLOAD"
        case .rateLimited: "RATE_LIMITED"
        case .unauthorized: "UNAUTHORIZED"
        case .unavailable: "UNAVAILABLE"
        }
    }

    /// Every code a rejection can have, in declaration order.
    public static let codes = ["BID_TOO_LOW", "AUCTION_CLOSED", "ITEM_NOT_FOUND", "INVALID_PAYLOAD", "RATE_LIMITED", "UNAUTHORIZED", "UNAVAILABLE"]

    public var message: String {
        switch self {
        case .bidTooLow(let minimum): "The bid must be at least \(minimum)."
        case .auctionClosed: "This auction is closed."
        case .itemNotFound: "There is no such auction."
        case .invalidPayload(let reason): "Invalid bid: \(reason)."
        case .rateLimited: "Too many bids; slow down."
        case .unauthorized: "Your session has expired; sign in again."
        case .unavailable: "Bidding is unavailable right now; nothing was recorded. Try again."
        }
    }
}

/// The bidding rules, without I/O.
public enum BidRules {
    /// The lowest acceptable next bid: the starting price for the first bid, else the current
    /// price plus the minimum increment.
    public static func minimumNextPrice(for item: AuctionItem) -> Money {
        guard item.highestBidder != nil else { return item.startingPrice }
        let (sum, overflow) = item.currentPrice.addingReportingOverflow(item.minIncrement)
        return overflow ? Money.max : sum
    }

    /// Checks a bid against the item as it stands at `now`.
    public static func evaluate(price: Money, for item: AuctionItem, at now: Date) -> Result<Void, BidRejection> {
        guard item.isAcceptingBids(at: now) else { return .failure(.auctionClosed) }
        let minimum = minimumNextPrice(for: item)
        guard price >= minimum else { return .failure(.bidTooLow(minimum: minimum)) }
        return .success(())
    }
}
