import Foundation

/// Someone who bid, as others see them.
public struct Bidder: Sendable, Equatable, Codable {
    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

public enum AuctionStatus: String, Sendable, Codable {
    case open
    case closed
}

/// The state of one auction as the rules need it.
public struct AuctionItem: Sendable, Equatable {
    public var id: String
    public var startingPrice: Money
    public var minIncrement: Money
    public var currentPrice: Money
    public var highestBidder: Bidder?
    public var endsAt: Date
    public var status: AuctionStatus

    public init(
        id: String,
        startingPrice: Money,
        minIncrement: Money,
        currentPrice: Money,
        highestBidder: Bidder?,
        endsAt: Date,
        status: AuctionStatus
    ) {
        self.id = id
        self.startingPrice = startingPrice
        self.minIncrement = minIncrement
        self.currentPrice = currentPrice
        self.highestBidder = highestBidder
        self.endsAt = endsAt
        self.status = status
    }

    /// Open and not past its end.
    public func isAcceptingBids(at now: Date) -> Bool {
        status == .open && now < endsAt
    }
}
