import NIOCore
import SocketIO

/// The fanout scenario inside one client: every `bid` the room broadcasts is a delivery, timed
/// against the `sentAt` it carries; once told by a `BidEmission` event, the client also emits
/// bids with ack ids on its own schedule and times each ack.
final class BidTrafficHandler: ChannelInboundHandler {
    typealias InboundIn = SocketIOPacket
    typealias OutboundOut = SocketIOPacket

    /// Below this, due bids are sent together instead of arming a timer per bid.
    private static let minimumTimerSpacing: Int64 = 1_000_000

    private let tally: FanoutTally
    private let clock: BenchClock
    /// The highest `seq` seen from each emitter, for loss and ordering checks; -1 before the first.
    private var lastSeq: [Int]

    private var emitter: Int?
    private var pacer: BidPacer?
    private var nextSeq = 0
    private var nextAckID = 0
    private var pendingAcks: [Int: Int64] = [:]
    private var timer: Scheduled<Void>?

    /// The padding every bid this client emits carries (`BidPayload.note`), if any.
    private let note: String?

    init(tally: FanoutTally, clock: BenchClock, emitterCount: Int, note: String? = nil) {
        self.tally = tally
        self.note = note
        self.clock = clock
        self.lastSeq = Array(repeating: -1, count: emitterCount)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        let now = clock.now()
        switch packet.type {
        case .event:
            guard let bid = BidPayload(eventArguments: packet.data) else {
                tally.update { $0.unrecognized += 1 }
                return
            }
            recordDelivery(bid, at: now)
        case .ack:
            guard let id = packet.id, let sentAt = pendingAcks.removeValue(forKey: id) else {
                tally.update { $0.unrecognized += 1 }
                return
            }
            let accepted = packet.data?[0]?["ok"]?.boolValue == true
            tally.update {
                $0.acked += 1
                if !accepted { $0.rejected += 1 }
                $0.ackLatency.record(now - sentAt)
            }
        default:
            tally.update { $0.unrecognized += 1 }
        }
    }

    func recordDelivery(_ bid: BidPayload, at now: Int64) {
        var gap = 0
        var reordered = false
        if lastSeq.indices.contains(bid.emitter) {
            let previous = lastSeq[bid.emitter]
            if bid.seq <= previous {
                reordered = true
            } else {
                gap = bid.seq - previous - 1
                lastSeq[bid.emitter] = bid.seq
            }
        }
        tally.update {
            $0.delivered += 1
            $0.gaps += gap
            if reordered { $0.outOfOrder += 1 }
            $0.deliveryLatency.record(now - bid.sentAt)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let emission = event as? BidEmission else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        emitter = emission.emitter
        pacer = BidPacer(ratePerSecond: emission.ratePerSecond, start: emission.start, end: emission.end)
        armTimer(context: context)
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard let pacer, !pacer.isFinished else { return }
        let wake = max(pacer.nextDueTime, clock.now() + Self.minimumTimerSpacing)
        let deadline = NIODeadline.uptimeNanoseconds(clock.origin.uptimeNanoseconds + UInt64(max(0, wake)))
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.emitDueBids(context: context)
        }
    }

    private func emitDueBids(context: ChannelHandlerContext) {
        guard var pacer, let emitter, context.channel.isActive else { return }
        let due = pacer.takeDue(at: clock.now())
        self.pacer = pacer
        guard due > 0 else { return armTimer(context: context) }
        for _ in 0..<due {
            let sentAt = clock.now()
            var bid = BidPayload(seq: nextSeq, sentAt: sentAt, emitter: emitter)
            bid.note = note
            nextSeq += 1
            let id = nextAckID
            nextAckID += 1
            pendingAcks[id] = sentAt
            context.write(wrapOutboundOut(.event(BidPayload.eventName, [bid.json], id: id)), promise: nil)
        }
        context.flush()
        tally.update { $0.sent += due }
        armTimer(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }
}
