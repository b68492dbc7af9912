import Foundation
import Testing

@testable import AuctionCore

private let now = Date(timeIntervalSince1970: 1_800_000_000)

private func item(current: Money = 1000, bidder: Bidder? = nil, endsIn: TimeInterval = 600, status: AuctionStatus = .open) -> AuctionItem {
    AuctionItem(
        id: "1",
        startingPrice: 1000,
        minIncrement: 50,
        currentPrice: current,
        highestBidder: bidder,
        endsAt: now.addingTimeInterval(endsIn),
        status: status
    )
}

private let alice = Bidder(id: "7", name: "Alice")

/// The rejection, or nil when the bid is accepted.
private func rejection(_ price: Money, _ item: AuctionItem) -> BidRejection? {
    if case .failure(let rejection) = BidRules.evaluate(price: price, for: item, at: now) { return rejection }
    return nil
}

@Test func firstBidMayEqualTheStartingPrice() {
    #expect(BidRules.minimumNextPrice(for: item()) == 1000)
    #expect(rejection(1000, item()) == nil)
}

@Test func firstBidBelowTheStartingPriceIsTooLow() {
    #expect(rejection(999, item()) == .bidTooLow(minimum: 1000))
}

@Test func laterBidsNeedTheIncrement() {
    let leading = item(current: 1200, bidder: alice)
    #expect(BidRules.minimumNextPrice(for: leading) == 1250)
    #expect(rejection(1249, leading) == .bidTooLow(minimum: 1250))
    #expect(rejection(1250, leading) == nil)
}

@Test func closedOrEndedAuctionsRefuseBids() {
    #expect(rejection(5000, item(status: .closed)) == .auctionClosed)
    #expect(rejection(5000, item(endsIn: 0)) == .auctionClosed)
    #expect(rejection(5000, item(endsIn: -1)) == .auctionClosed)
}

@Test func minimumDoesNotOverflow() {
    var huge = item(current: Money.max - 10, bidder: alice)
    huge.minIncrement = 50
    #expect(BidRules.minimumNextPrice(for: huge) == Money.max)
}

@Test func rejectionCodesAreTheContractOnes() {
    #expect(BidRejection.bidTooLow(minimum: 1).code == "BID_TOO_LOW")
    #expect(BidRejection.auctionClosed.code == "AUCTION_CLOSED")
    #expect(BidRejection.itemNotFound.code == "ITEM_NOT_FOUND")
    #expect(BidRejection.invalidPayload("x").code == "INVALID_PAYLOAD")
    #expect(BidRejection.rateLimited.code == "RATE_LIMITED")
    #expect(BidRejection.unauthorized.code == "UNAUTHORIZED")
    #expect(BidRejection.unavailable.code == "UNAVAILABLE")
}
