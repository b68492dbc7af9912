import AuctionCore
import Foundation

/// `user` of the contract: `{id, email, name}`.
public struct UserRecord: Sendable, Codable, Equatable {
    public var id: String
    public var email: String
    public var name: String
}

/// `item` of the contract.
public struct ItemRecord: Sendable, Codable, Equatable {
    public var id: String
    public var roomId: String
    public var title: String
    public var description: String
    public var startingPrice: Money
    public var minIncrement: Money
    public var currentPrice: Money
    public var highestBidder: Bidder?
    public var endsAt: Date
    public var status: AuctionStatus
    public var sellerId: String

    enum CodingKeys: String, CodingKey {
        case id, roomId, title, description, startingPrice, minIncrement, currentPrice, highestBidder, endsAt, status, sellerId
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(roomId, forKey: .roomId)
        try container.encode(title, forKey: .title)
        try container.encode(description, forKey: .description)
        try container.encode(startingPrice, forKey: .startingPrice)
        try container.encode(minIncrement, forKey: .minIncrement)
        try container.encode(currentPrice, forKey: .currentPrice)
        // The contract shows `highestBidder: null` before the first bid, not a missing key.
        try container.encode(highestBidder, forKey: .highestBidder)
        try container.encode(endsAt, forKey: .endsAt)
        try container.encode(status, forKey: .status)
        try container.encode(sellerId, forKey: .sellerId)
    }

    /// The state the bidding rules need.
    public var auction: AuctionItem {
        AuctionItem(
            id: id,
            startingPrice: startingPrice,
            minIncrement: minIncrement,
            currentPrice: currentPrice,
            highestBidder: highestBidder,
            endsAt: endsAt,
            status: status
        )
    }

    static func roomID(for itemID: String) -> String { "item:\(itemID)" }
}

/// `bid` of the contract.
public struct BidRecord: Sendable, Codable, Equatable {
    public var id: String
    public var itemId: String
    public var price: Money
    public var bidder: Bidder
    public var createdAt: Date
}

/// Ids are BIGINT identities shown as strings; anything that is not one simply does not exist.
enum RecordID {
    static func parse(_ string: String?) -> Int64? {
        guard let string, !string.isEmpty, string.count <= 19, string.allSatisfy(\.isASCIIDigit) else { return nil }
        guard let value = Int64(string), value > 0 else { return nil }
        return value
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
