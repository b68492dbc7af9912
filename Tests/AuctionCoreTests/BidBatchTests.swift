import Foundation
import Testing

@testable import AuctionCore

private let end = Date(timeIntervalSince1970: 1_800_000_000)
private let alice = Bidder(id: "7", name: "Alice")
private let bob = Bidder(id: "8", name: "Bob")
private let carol = Bidder(id: "9", name: "Carol")

private func item(
    current: Money = 1000, bidder: Bidder? = nil, increment: Money = 50,
    endsAt: Date = end, status: AuctionStatus = .open
) -> AuctionItem {
    AuctionItem(
        id: "1", startingPrice: 1000, minIncrement: increment, currentPrice: current,
        highestBidder: bidder, endsAt: endsAt, status: status
    )
}

/// A bid received `secondsBeforeEnd` before the item's original end (negative: after it).
private func bid(_ bidder: Bidder, _ price: Money, _ clientBidId: String? = nil, at secondsBeforeEnd: TimeInterval = 60) -> QueuedBid {
    QueuedBid(bidder: bidder, price: price, clientBidId: clientBidId, receivedAt: end.addingTimeInterval(-secondsBeforeEnd))
}

private func key(_ bidder: Bidder, _ clientBidId: String) -> ClientBidKey {
    ClientBidKey(bidderId: bidder.id, clientBidId: clientBidId)
}

@Suite("Bid batch")
struct BidBatchTests {
    // MARK: Examples

    @Test func aReplayInTheSameBatchGetsTheFirstAnswer() {
        let decision = BidBatch.decide(
            item: item(),
            bids: [bid(alice, 1000, "a1"), bid(bob, 1050, "b1"), bid(alice, 1000, "a1"), bid(alice, 5000, "a1")],
            stored: []
        )
        #expect(decision.verdicts == [.accepted(index: 0), .accepted(index: 1), .replayOfAccepted(index: 0), .replayOfAccepted(index: 0)])
        #expect(decision.accepted.map(\.bid.price) == [1000, 1050])
        // The retries changed nothing: Bob still leads at his price.
        #expect(decision.item.currentPrice == 1050)
        #expect(decision.item.highestBidder == bob)
    }

    @Test func theSameIdFromAnotherBidderIsANewBid() {
        let decision = BidBatch.decide(item: item(), bids: [bid(alice, 1000, "x"), bid(bob, 1050, "x")], stored: [key(carol, "x")])
        #expect(decision.verdicts == [.accepted(index: 0), .accepted(index: 1)])
    }

    @Test func aStoredIdBelowTheCurrentPriceIsStillAReplay() {
        let decision = BidBatch.decide(
            item: item(current: 2000, bidder: bob),
            bids: [bid(alice, 500, "old"), bid(alice, 500, "new")],
            stored: [key(alice, "old")]
        )
        #expect(decision.verdicts == [.replayOfStored(key(alice, "old")), .refused(.bidTooLow(minimum: 2050))])
        #expect(decision.accepted.isEmpty)
        #expect(decision.item == item(current: 2000, bidder: bob))
    }

    @Test func aRefusedIdIsDecidedAgainLaterInTheBatch() {
        let decision = BidBatch.decide(item: item(), bids: [bid(alice, 900, "r"), bid(alice, 1000, "r"), bid(alice, 900, "r")], stored: [])
        #expect(decision.verdicts == [.refused(.bidTooLow(minimum: 1000)), .accepted(index: 0), .replayOfAccepted(index: 0)])
        #expect(decision.item.currentPrice == 1000)
    }

    @Test func theFirstBidMustReachTheStartingPriceAndLaterOnesTheIncrement() {
        let decision = BidBatch.decide(
            item: item(),
            bids: [bid(alice, 999), bid(alice, 1000), bid(bob, 1049), bid(bob, 1050), bid(carol, 1050), bid(carol, 1100)],
            stored: []
        )
        #expect(decision.verdicts == [
            .refused(.bidTooLow(minimum: 1000)), .accepted(index: 0),
            .refused(.bidTooLow(minimum: 1050)), .accepted(index: 1),
            .refused(.bidTooLow(minimum: 1100)), .accepted(index: 2),
        ])
        #expect(decision.item.currentPrice == 1100)
        #expect(decision.item.highestBidder == carol)
    }

    @Test func aBatchAcrossTheSoftCloseBoundaryExtendsFromEachAcceptedBid() {
        let decision = BidBatch.decide(
            item: item(),
            bids: [
                bid(alice, 1000, at: 40),  // before the window: no extension
                bid(bob, 1050, at: 10),  // in the window: the end moves to 20 s after the original end
                bid(carol, 1000, at: 5),  // too low: refusals never extend
                bid(carol, 1100, at: -5),  // after the original end, before the extended one
                bid(alice, 1150, at: -35),  // at the end as extended by Carol: closed
            ],
            stored: []
        )
        #expect(decision.verdicts == [
            .accepted(index: 0), .accepted(index: 1), .refused(.bidTooLow(minimum: 1100)),
            .accepted(index: 2), .refused(.auctionClosed),
        ])
        #expect(decision.accepted.map(\.extendedTo) == [nil, end.addingTimeInterval(20), end.addingTimeInterval(35)])
        #expect(decision.accepted.map(\.item.endsAt) == [end, end.addingTimeInterval(20), end.addingTimeInterval(35)])
        #expect(decision.item.endsAt == end.addingTimeInterval(35))
        #expect(decision.item.highestBidder == carol)
    }

    @Test func aBidAfterTheOriginalEndIsClosedWhenNothingExtendedIt() {
        let decision = BidBatch.decide(item: item(), bids: [bid(alice, 1000, at: 40), bid(bob, 1050, at: -1), bid(bob, 1050, at: 0)], stored: [])
        #expect(decision.verdicts == [.accepted(index: 0), .refused(.auctionClosed), .refused(.auctionClosed)])
        #expect(decision.item.endsAt == end)
    }

    @Test func bidsOutOfArrivalOrderAreEachJudgedAtTheirOwnTime() {
        // A late bid queued ahead of an earlier one: the earlier one is still accepted and the end
        // does not move back to 30 s after it.
        let decision = BidBatch.decide(item: item(), bids: [bid(alice, 1000, at: 5), bid(bob, 1050, at: 20)], stored: [])
        #expect(decision.verdicts == [.accepted(index: 0), .accepted(index: 1)])
        #expect(decision.accepted.map(\.extendedTo) == [end.addingTimeInterval(25), nil])
        #expect(decision.item.endsAt == end.addingTimeInterval(25))
    }

    @Test func aClosedItemRefusesAllButStillAnswersReplays() {
        let closed = item(current: 1200, bidder: bob, endsAt: end.addingTimeInterval(3600), status: .closed)
        let decision = BidBatch.decide(item: closed, bids: [bid(alice, 5000, "a"), bid(alice, 6000), bid(alice, 1, "s")], stored: [key(alice, "s")])
        #expect(decision.verdicts == [.refused(.auctionClosed), .refused(.auctionClosed), .replayOfStored(key(alice, "s"))])
        #expect(decision.accepted.isEmpty)
        #expect(decision.item == closed)
    }

    @Test func anEmptyBatchChangesNothing() {
        let leading = item(current: 1500, bidder: alice)
        #expect(BidBatch.decide(item: leading, bids: [], stored: [key(alice, "a")]) == BatchDecision(verdicts: [], accepted: [], item: leading))
    }

    // MARK: Properties over random batches

    private static let seeds: [UInt64] = Array(1...500)

    /// The properties below prove little if the random batches never reach a case: count them.
    @Test func theRandomBatchesReachEveryCase() {
        var seen: [String: Int] = [:]
        for seed in Self.seeds {
            let scenario = Scenario(seed: seed)
            let decision = scenario.decide()
            if scenario.bids.isEmpty { seen["empty batch", default: 0] += 1 }
            if zip(scenario.bids, scenario.bids.dropFirst()).contains(where: { $0.receivedAt > $1.receivedAt }) { seen["out of order", default: 0] += 1 }
            for (position, verdict) in decision.verdicts.enumerated() {
                switch verdict {
                case .accepted: seen["accepted", default: 0] += 1
                case .replayOfStored: seen["replay of stored", default: 0] += 1
                case .replayOfAccepted: seen["replay of accepted", default: 0] += 1
                case .refused(.bidTooLow): seen["too low", default: 0] += 1
                case .refused:
                    seen[scenario.item.status == .closed ? "closed item" : "past the end", default: 0] += 1
                }
                if case .accepted = verdict, let id = scenario.bids[position].clientBidId,
                    decision.verdicts[..<position].indices.contains(where: {
                        guard case .refused = decision.verdicts[$0] else { return false }
                        return scenario.bids[$0].clientBidId == id && scenario.bids[$0].bidder.id == scenario.bids[position].bidder.id
                    })
                {
                    seen["refused then accepted", default: 0] += 1
                }
            }
            for accepted in decision.accepted {
                if accepted.extendedTo != nil { seen["extended", default: 0] += 1 }
                if accepted.bid.receivedAt >= scenario.item.endsAt { seen["accepted after the original end", default: 0] += 1 }
            }
        }
        let cases = [
            "empty batch", "out of order", "accepted", "replay of stored", "replay of accepted", "too low", "closed item",
            "past the end", "refused then accepted", "extended", "accepted after the original end",
        ]
        for name in cases { #expect(seen[name, default: 0] > 0, "\(name) never happens") }
    }

    @Test(arguments: seeds) func everyBidGetsExactlyOneVerdictAndAcceptedIndicesCount(seed: UInt64) {
        let scenario = Scenario(seed: seed)
        let decision = scenario.decide()
        #expect(decision.verdicts.count == scenario.bids.count)
        let acceptedIndices = decision.verdicts.compactMap { verdict -> Int? in
            if case .accepted(let index) = verdict { return index }
            return nil
        }
        #expect(acceptedIndices == Array(decision.accepted.indices))
        // Each accepted entry is the bid its verdict names.
        for (position, verdict) in decision.verdicts.enumerated() {
            if case .accepted(let index) = verdict { #expect(decision.accepted[index].bid == scenario.bids[position]) }
        }
    }

    @Test(arguments: seeds) func acceptedPricesStrictlyIncreaseAndRefusalsNameTheMinimumAtTheirPoint(seed: UInt64) {
        let scenario = Scenario(seed: seed)
        let decision = scenario.decide()
        var before = scenario.item
        for (position, verdict) in decision.verdicts.enumerated() {
            let bid = scenario.bids[position]
            switch verdict {
            case .accepted(let index):
                let accepted = decision.accepted[index]
                #expect(accepted.bid.price >= BidRules.minimumNextPrice(for: before))
                if before.highestBidder != nil { #expect(accepted.bid.price > before.currentPrice) }
                #expect(before.isAcceptingBids(at: bid.receivedAt))
                #expect(accepted.item.currentPrice == bid.price)
                #expect(accepted.item.highestBidder == bid.bidder)
                before = accepted.item
            case .refused(.bidTooLow(let minimum)):
                #expect(minimum == BidRules.minimumNextPrice(for: before))
                #expect(bid.price < minimum)
                #expect(before.isAcceptingBids(at: bid.receivedAt))
            case .refused(let rejection):
                #expect(rejection == .auctionClosed)
                #expect(!before.isAcceptingBids(at: bid.receivedAt))
            case .replayOfStored, .replayOfAccepted:
                break
            }
        }
        let prices = decision.accepted.map(\.bid.price)
        #expect(zip(prices, prices.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test(arguments: seeds) func replaysGetTheFirstAnswerAndChangeNothing(seed: UInt64) {
        let scenario = Scenario(seed: seed)
        let decision = scenario.decide()
        for (position, verdict) in decision.verdicts.enumerated() {
            let bid = scenario.bids[position]
            switch verdict {
            case .replayOfStored(let replayed):
                #expect(bid.clientBidId.map { key(bid.bidder, $0) } == replayed)
                #expect(scenario.stored.contains(replayed))
            case .replayOfAccepted(let index):
                let first = decision.accepted[index].bid
                #expect(first.bidder.id == bid.bidder.id && first.clientBidId != nil && first.clientBidId == bid.clientBidId)
                // The answer is the first acceptance of this key in the batch.
                let firstAcceptedPosition = decision.verdicts.firstIndex(of: .accepted(index: index))
                #expect(firstAcceptedPosition.map { $0 < position } == true)
            case .accepted, .refused:
                // A new decision only when the key was neither stored nor accepted before.
                if let id = bid.clientBidId {
                    #expect(!scenario.stored.contains(key(bid.bidder, id)))
                    let earlier = decision.verdicts[..<position].indices.contains { earlier in
                        guard case .accepted = decision.verdicts[earlier] else { return false }
                        return scenario.bids[earlier].bidder.id == bid.bidder.id && scenario.bids[earlier].clientBidId == id
                    }
                    #expect(!earlier)
                }
            }
        }
        // Without its replays the batch decides the same bids into the same item.
        let replayPositions = Set(decision.verdicts.indices.filter { position in
            switch decision.verdicts[position] {
            case .replayOfStored, .replayOfAccepted: true
            case .accepted, .refused: false
            }
        })
        let withoutReplays = scenario.bids.indices.filter { !replayPositions.contains($0) }.map { scenario.bids[$0] }
        let again = BidBatch.decide(item: scenario.item, bids: withoutReplays, stored: scenario.stored)
        #expect(again.accepted == decision.accepted)
        #expect(again.item == decision.item)
    }

    @Test(arguments: seeds) func aBatchDecidesLikeEachBidAloneInTurn(seed: UInt64) {
        let scenario = Scenario(seed: seed)
        let decision = scenario.decide()

        var item = scenario.item
        var stored = scenario.stored
        var oneByOne: [Answer] = []
        for bid in scenario.bids {
            let alone = BidBatch.decide(item: item, bids: [bid], stored: stored)
            #expect(alone.verdicts.count == 1)
            switch alone.verdicts.first {
            case .accepted(let index)?:
                oneByOne.append(.accepted(alone.accepted[index]))
                if let id = bid.clientBidId { stored.insert(key(bid.bidder, id)) }
            case .replayOfStored(let replayed)?:
                oneByOne.append(.replay(replayed))
                #expect(alone.item == item)
            case .refused(let rejection)?:
                oneByOne.append(.refused(rejection))
                #expect(alone.item == item)
            case .replayOfAccepted?, nil:
                Issue.record("a batch of one has nothing accepted before its bid")
            }
            item = alone.item
        }

        #expect(Answer.of(decision) == oneByOne)
        #expect(decision.item == item)
    }

    @Test(arguments: seeds) func theFinalItemIsTheLastAcceptedAndTheEndNeverMovesBack(seed: UInt64) {
        let scenario = Scenario(seed: seed)
        let decision = scenario.decide()
        if let last = decision.accepted.last {
            #expect(decision.item == last.item)
            #expect(decision.item.currentPrice == last.bid.price)
            #expect(decision.item.highestBidder == last.bid.bidder)
        } else {
            #expect(decision.item == scenario.item)
        }
        var endsAt = scenario.item.endsAt
        for accepted in decision.accepted {
            #expect(accepted.item.endsAt >= endsAt)
            // Extended exactly when the end moved, to the soft-close window after this bid's arrival.
            if let extendedTo = accepted.extendedTo {
                #expect(extendedTo == accepted.bid.receivedAt.addingTimeInterval(SoftClose.window))
                #expect(extendedTo > endsAt && accepted.item.endsAt == extendedTo)
            } else {
                #expect(accepted.item.endsAt == endsAt)
            }
            endsAt = accepted.item.endsAt
        }
        #expect(decision.item.endsAt == endsAt)
        // Nothing but price, leader and end ever changes.
        var unchanged = decision.item
        unchanged.currentPrice = scenario.item.currentPrice
        unchanged.highestBidder = scenario.item.highestBidder
        unchanged.endsAt = scenario.item.endsAt
        #expect(unchanged == scenario.item)
    }
}

/// The answer a bidder gets, with replays of an in-batch acceptance written as the replay of a
/// stored key, so a batch compares with the same bids decided one at a time.
private enum Answer: Equatable {
    case accepted(AcceptedBid)
    case replay(ClientBidKey)
    case refused(BidRejection)

    static func of(_ decision: BatchDecision) -> [Answer] {
        decision.verdicts.map { verdict in
            switch verdict {
            case .accepted(let index): .accepted(decision.accepted[index])
            case .replayOfStored(let replayed): .replay(replayed)
            case .replayOfAccepted(let index):
                .replay(key(decision.accepted[index].bid.bidder, decision.accepted[index].bid.clientBidId ?? ""))
            case .refused(let rejection): .refused(rejection)
            }
        }
    }
}

/// A random item, batch and set of stored ids, the same for the same seed.
private struct Scenario {
    var item: AuctionItem
    var bids: [QueuedBid]
    var stored: Set<ClientBidKey>

    init(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let bidders = (0..<Int.random(in: 1...5, using: &random)).map { Bidder(id: "u\($0)", name: "User \($0)") }
        let increment = [1, 50, 100].randomElement(using: &random)!
        let leader = Bool.random(using: &random) ? bidders.randomElement(using: &random) : nil
        let start = end.addingTimeInterval(-Double(Int.random(in: 0...90, using: &random)))
        item = AuctionItem(
            id: "1", startingPrice: 1000, minIncrement: Money(increment),
            currentPrice: leader == nil ? 1000 : Money(Int.random(in: 1000...3000, using: &random)),
            highestBidder: leader,
            endsAt: end,
            status: Int.random(in: 0..<10, using: &random) == 0 ? .closed : .open
        )

        stored = []
        for bidder in bidders where Bool.random(using: &random) {
            stored.insert(ClientBidKey(bidderId: bidder.id, clientBidId: "stored-\(bidder.id)"))
        }

        // Prices hover around a running guess of the minimum, so many bids win and many lose.
        var guess = BidRules.minimumNextPrice(for: item)
        var receivedAt = start
        var used: [(Bidder, String)] = []
        bids = []
        for _ in 0..<Int.random(in: 0...60, using: &random) {
            let bidder = bidders.randomElement(using: &random)!
            let price = max(1, guess + Money(increment * Int.random(in: -2...2, using: &random) + Int.random(in: -1...1, using: &random)))
            if price >= guess { guess = price + Money(increment) }
            var bidderOfId = bidder
            let clientBidId: String?
            switch Int.random(in: 0..<10, using: &random) {
            case 0, 1: clientBidId = nil
            case 2...3 where !used.isEmpty:
                // A retry: the same bidder and id, at whatever price.
                let (earlier, id) = used.randomElement(using: &random)!
                bidderOfId = earlier
                clientBidId = id
            case 4: clientBidId = "stored-\(bidder.id)"
            case 5 where !used.isEmpty: clientBidId = used.randomElement(using: &random)!.1  // maybe another bidder's id
            default: clientBidId = "c\(bids.count)"
            }
            if let clientBidId { used.append((bidderOfId, clientBidId)) }
            // Mostly non-decreasing arrival times; now and then one out of order.
            receivedAt = receivedAt.addingTimeInterval(Double(Int.random(in: 0...3000, using: &random)) / 1000)
            let arrival = Int.random(in: 0..<20, using: &random) == 0 ? receivedAt.addingTimeInterval(-20) : receivedAt
            bids.append(QueuedBid(bidder: bidderOfId, price: price, clientBidId: clientBidId, receivedAt: arrival))
        }
    }

    func decide() -> BatchDecision {
        BidBatch.decide(item: item, bids: bids, stored: stored)
    }
}

/// xorshift64*: AuctionCoreTests does not depend on TestSupport, whose SplitMix64 would do as well.
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        // xorshift never leaves zero; spreading the seed avoids it and decorrelates nearby seeds.
        state = (seed &+ 1) &* 0x2545_F491_4F6C_DD1D
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
