/// After an auction run: did every tab receive every accepted bid exactly once, in increasing
/// price order, and how long after it was sent? Bids are matched by the id in their ack, so a
/// `bid` event that overtakes the ack to its sender is still timed from the send.
struct DeliveryAudit {
    struct Findings: Codable, Sendable {
        /// Tabs that received `auction:state` and so were in the room before bidding started.
        var tabs: Int
        var tabsNotReady: Int
        /// Bids acked `ok` to some tab.
        var acceptedBids: Int
        /// `acceptedBids` times `tabs`: every tab, the bidder's own included, gets every accepted bid.
        var expectedDeliveries: Int
        /// First copies of accepted bids.
        var delivered: Int
        var missing: Int
        /// Second and later copies of one bid at one tab.
        var duplicates: Int
        /// Deliveries whose price was not above the previous one at that tab.
        var outOfOrder: Int
        /// `bid` events for bids no ack of this run accepted (another client's, or acks still
        /// outstanding when the run ended).
        var unknownBids: Int
        var wrongMine: Int
        var wrongText: Int
        /// Tabs that got every accepted bid exactly once, in increasing price order.
        var tabsComplete: Int
        /// Accepted bids whose price is not above that of the accepted bid with the next lower id
        /// (ids grow in commit order, so prices must too).
        var acceptedOrderViolations: Int
        /// A few violations spelled out.
        var examples: [String]

        var isClean: Bool {
            missing == 0 && duplicates == 0 && outOfOrder == 0 && wrongMine == 0 && wrongText == 0
                && acceptedOrderViolations == 0 && tabsNotReady == 0
        }
    }

    private static let exampleLimit = 12

    static func audit(_ journals: [TabJournal]) -> (findings: Findings, deliveryLatency: LatencyHistogram) {
        let entries = journals.map(\.snapshot)
        var sentAt: [Int64: Int64] = [:]
        var accepted: [(id: Int64, price: Int64)] = []
        for entry in entries {
            for placement in entry.placements where sentAt[placement.bidID] == nil {
                sentAt[placement.bidID] = placement.sentAt
                accepted.append((placement.bidID, placement.price))
            }
        }
        var examples: [String] = []
        func note(_ text: @autoclosure () -> String) {
            if examples.count < exampleLimit { examples.append(text()) }
        }

        var orderViolations = 0
        accepted.sort { $0.id < $1.id }
        for (previous, next) in zip(accepted, accepted.dropFirst()) where next.price <= previous.price {
            orderViolations += 1
            note("accepted bid \(next.id) at \(next.price) has a higher id than bid \(previous.id) at \(previous.price)")
        }

        var findings = Findings(
            tabs: 0, tabsNotReady: 0, acceptedBids: accepted.count, expectedDeliveries: 0, delivered: 0, missing: 0,
            duplicates: 0, outOfOrder: 0, unknownBids: 0, wrongMine: 0, wrongText: 0, tabsComplete: 0,
            acceptedOrderViolations: orderViolations, examples: []
        )
        var latency = LatencyHistogram()
        for (journal, entry) in zip(journals, entries) {
            guard entry.ready else {
                findings.tabsNotReady += 1
                continue
            }
            findings.tabs += 1
            let tab = "user \(journal.user) tab \(journal.tab)"
            var seen = Set<Int64>()
            var lastPrice = Int64.min
            var clean = true
            for delivery in entry.deliveries {
                if delivery.wrongMine {
                    findings.wrongMine += 1
                    note("\(tab): bid \(delivery.bidID) arrived with the wrong `mine`")
                }
                if delivery.wrongText {
                    findings.wrongText += 1
                    note("\(tab): bid \(delivery.bidID) arrived with an unexpected `text`")
                }
                guard seen.insert(delivery.bidID).inserted else {
                    findings.duplicates += 1
                    clean = false
                    note("\(tab): bid \(delivery.bidID) arrived again")
                    continue
                }
                if delivery.price <= lastPrice {
                    findings.outOfOrder += 1
                    clean = false
                    note("\(tab): bid \(delivery.bidID) at \(delivery.price) arrived after a bid at \(lastPrice)")
                }
                lastPrice = max(lastPrice, delivery.price)
                if let sent = sentAt[delivery.bidID] {
                    findings.delivered += 1
                    latency.record(delivery.receivedAt - sent)
                } else {
                    findings.unknownBids += 1
                }
            }
            let missing = accepted.lazy.filter { !seen.contains($0.id) }
            let missingCount = missing.count
            if missingCount > 0 {
                findings.missing += missingCount
                clean = false
                note("\(tab): \(missingCount) accepted bids never arrived, the first \(missing.first!.id) at \(missing.first!.price)")
            }
            if clean { findings.tabsComplete += 1 }
        }
        findings.expectedDeliveries = accepted.count * findings.tabs
        findings.examples = examples
        return (findings, latency)
    }
}
