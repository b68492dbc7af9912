import NIOCore
import SocketIO

/// The auction scenario inside one tab: learns the price from `auction:state` and every `bid`
/// event, journals each `bid` event for the delivery audit, and, once told by an
/// `AuctionBidding` event, bids at the lowest price it believes acceptable, timing each ack.
final class AuctionTabHandler: ChannelInboundHandler {
    typealias InboundIn = SocketIOPacket
    typealias OutboundOut = SocketIOPacket

    static let bidEvent = "bid"
    /// Below this, due bids are sent together instead of arming a timer per bid.
    private static let minimumTimerSpacing: Int64 = 1_000_000
    /// The server refills a user's bid allowance by one every 100 ms; a closed-loop tab told
    /// RATE_LIMITED waits that long instead of spinning on refusals.
    private static let rateLimitedPause: Int64 = 100_000_000

    private let identity: AuctionTab
    private let tally: AuctionTally
    private let journal: TabJournal
    private let clock: BenchClock

    /// The lowest price this tab believes the server accepts next; nil until `auction:state`.
    private var nextPrice: Int64?
    private var minIncrement: Int64 = 1
    private var bidding: AuctionBidding?
    private var pacer: BidPacer?
    private var nextSeq = 0
    private var nextAckID = 0
    /// Ack id → when the bid was sent.
    private var pendingAcks: [Int: Int64] = [:]
    private var timer: Scheduled<Void>?

    init(identity: AuctionTab, tally: AuctionTally, journal: TabJournal, clock: BenchClock) {
        self.identity = identity
        self.tally = tally
        self.journal = journal
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        let now = clock.now()
        switch packet.type {
        case .event:
            let name = packet.data?[0]?.stringValue
            let payload = packet.data?[1]
            switch name {
            case Self.bidEvent?: received(bidEvent: payload, at: now)
            case "auction:state"?: received(state: payload)
            case "auction:extended"?, "auction:closed"?, "auction:error"?:
                tally.update { $0.auctionEvents[name!, default: 0] += 1 }
            default: tally.update { $0.unrecognized += 1 }
            }
        case .ack:
            guard let id = packet.id, let sentAt = pendingAcks.removeValue(forKey: id) else {
                tally.update { $0.unrecognized += 1 }
                return
            }
            received(ack: packet.data?[0], sentAt: sentAt, at: now, context: context)
        default:
            tally.update { $0.unrecognized += 1 }
        }
    }

    // MARK: What the server says

    private func received(state: JSONValue?) {
        guard let item = state?["item"], let current = item["currentPrice"]?.integerValue,
            let increment = item["minIncrement"]?.integerValue
        else {
            tally.update { $0.unrecognized += 1 }
            return
        }
        let first = nextPrice == nil
        minIncrement = max(1, increment)
        // Before the first bid the starting price itself is acceptable (it is the current price).
        let hasLeader = item["highestBidder"].map { $0 != .null } ?? false
        raise(toAtLeast: hasLeader ? current + minIncrement : current)
        if first {
            journal.stateReceived()
            tally.update { $0.ready += 1 }
        }
    }

    private func received(bidEvent payload: JSONValue?, at now: Int64) {
        guard let bid = payload?["bid"], let id = bid["id"]?.stringValue.flatMap({ Int64($0) }),
            let price = bid["price"]?.integerValue, let bidderID = bid["bidder"]?["id"]?.stringValue,
            let mine = payload?["mine"]?.boolValue, let text = payload?["text"]?.stringValue
        else {
            tally.update { $0.unrecognized += 1 }
            return
        }
        let own = bidderID == identity.userID
        let expectedText = own ? text.hasPrefix("You") : text == "\(bid["bidder"]?["name"]?.stringValue ?? ""): \(price)"
        journal.delivered(.init(bidID: id, price: price, receivedAt: now, wrongMine: mine != own, wrongText: !expectedText))
        raise(toAtLeast: price + minIncrement)
        tally.update { $0.delivered += 1 }
    }

    private func received(ack answer: JSONValue?, sentAt: Int64, at now: Int64, context: ChannelHandlerContext) {
        let latency = now - sentAt
        var code: String?
        if answer?["ok"]?.boolValue == true {
            if let bid = answer?["bid"], let id = bid["id"]?.stringValue.flatMap({ Int64($0) }), let price = bid["price"]?.integerValue {
                journal.placed(.init(bidID: id, price: price, sentAt: sentAt))
                raise(toAtLeast: price + minIncrement)
                tally.update {
                    $0.acked += 1
                    $0.accepted += 1
                    $0.ackLatency.record(latency)
                    $0.acceptedAckLatency.record(latency)
                }
            } else {
                code = "OK_WITHOUT_BID"
            }
        } else {
            code = answer?["error"]?["code"]?.stringValue ?? "NO_ERROR_CODE"
        }
        if let code {
            tally.update {
                $0.acked += 1
                $0.rejected[code, default: 0] += 1
                $0.ackLatency.record(latency)
            }
        }
        // Closed loop: the next bid follows the answer to the previous one.
        if let bidding, bidding.ratePerSecond == nil, context.channel.isActive {
            let pause = code == "RATE_LIMITED" ? Self.rateLimitedPause : 0
            if now + pause < bidding.end {
                if pause == 0 { sendBids(1, context: context) } else { arm(at: now + pause, context: context) }
            }
        }
    }

    private func raise(toAtLeast price: Int64) {
        nextPrice = max(nextPrice ?? price, price)
    }

    // MARK: Bidding

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let bidding = event as? AuctionBidding else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.bidding = bidding
        if let rate = bidding.ratePerSecond {
            pacer = BidPacer(ratePerSecond: rate, start: bidding.start, end: bidding.end)
            armPacer(context: context)
        } else {
            arm(at: bidding.start, context: context)
        }
    }

    private func armPacer(context: ChannelHandlerContext) {
        guard let pacer, !pacer.isFinished else { return }
        arm(at: pacer.nextDueTime, context: context)
    }

    private func arm(at time: Int64, context: ChannelHandlerContext) {
        let wake = max(time, clock.now() + Self.minimumTimerSpacing)
        let deadline = NIODeadline.uptimeNanoseconds(clock.origin.uptimeNanoseconds + UInt64(max(0, wake)))
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        guard let bidding, context.channel.isActive else { return }
        guard var pacer else {
            // Closed loop: the first bid, or the one after a RATE_LIMITED pause.
            if clock.now() < bidding.end { sendBids(1, context: context) }
            return
        }
        let due = pacer.takeDue(at: clock.now())
        self.pacer = pacer
        if due > 0 { sendBids(due, context: context) }
        armPacer(context: context)
    }

    private func sendBids(_ count: Int, context: ChannelHandlerContext) {
        // A tab that never learnt the price cannot bid sensibly; the command only starts ready tabs.
        guard let price = nextPrice else { return }
        for _ in 0..<count {
            let sentAt = clock.now()
            let id = nextAckID
            nextAckID += 1
            pendingAcks[id] = sentAt
            let bid: JSONValue = [
                "itemId": .string(identity.itemID),
                "price": .number(Double(price)),
                "clientBidId": .string(identity.clientBidID(nextSeq)),
            ]
            nextSeq += 1
            context.write(wrapOutboundOut(.event(Self.bidEvent, [bid], id: id)), promise: nil)
        }
        context.flush()
        tally.update { $0.sent += count }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }
}
