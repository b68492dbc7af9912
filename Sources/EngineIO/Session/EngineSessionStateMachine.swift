/// The life of one Engine.IO session, without I/O.
///
/// Events go in as method calls; the returned `Action`s say what the runtime
/// (``EngineSession``) must do: answer a held poll, write WebSocket frames,
/// arm a timer, or finish the session. Polls are named by ids so the runtime
/// can match each answer to the HTTP request that waits for it.
struct EngineSessionStateMachine {
    typealias PollID = UInt64

    enum Transport: Sendable, Equatable {
        case polling
        case websocket
    }

    enum State: Equatable {
        /// Polling is the transport; at most one GET is held.
        case polling(pendingPoll: PollID?)
        /// A WebSocket answered the probe; polling is being drained with `noop`.
        case upgrading(pendingPoll: PollID?)
        /// WebSocket is the transport.
        case websocket
        /// Closed by the server while messages still waited for a poll: the next GET takes them
        /// and the close packet; nothing else is sent or delivered meanwhile.
        case closing(EngineCloseReason)
        case closed(EngineCloseReason)
    }

    enum Action: Equatable {
        /// Answer the held (or just arrived) GET with these packets.
        case answerPoll(PollID, [EnginePacket])
        /// Keep the GET waiting under this id.
        case holdPoll(PollID)
        /// Answer the request that caused the event with an Engine.IO error.
        case rejectRequest(EngineError)
        case writeWebSocket([EnginePacket])
        case closeWebSocket
        /// Pass an application message up.
        case deliver(EngineMessage)
        case schedulePing
        case schedulePingTimeout
        case cancelPingTimeout
        /// The session is over: forget it and tell the application why.
        case finish(EngineCloseReason)
    }

    private(set) var state: State
    private var outbox: [EnginePacket] = []
    private var awaitingPong = false
    private var postInFlight = false
    /// A batch of frames is being written; more packets wait in `outbox` until it completes,
    /// so one write is in flight at a time (as the reference server does).
    private var webSocketBusy = false
    private var nextPollID: PollID = 0

    init(transport: Transport) {
        self.state = transport == .polling ? .polling(pendingPoll: nil) : .websocket
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var transport: Transport? {
        switch state {
        case .polling, .upgrading, .closing: return .polling
        case .websocket: return .websocket
        case .closed: return nil
        }
    }

    /// The handshake was answered; start the heartbeat.
    mutating func opened() -> [Action] {
        [.schedulePing]
    }

    // MARK: Polling

    /// A long-polling GET arrived.
    mutating func pollRequested() -> [Action] {
        switch state {
        case .polling(pendingPoll: nil):
            let id = makePollID()
            if outbox.isEmpty {
                state = .polling(pendingPoll: id)
                return [.holdPoll(id)]
            }
            return [.answerPoll(id, takeForPoll())]
        case .upgrading(pendingPoll: nil):
            return [.answerPoll(makePollID(), [.noop])]
        case .polling(pendingPoll: .some), .upgrading(pendingPoll: .some):
            // A second concurrent GET breaks packet ordering: close the session.
            return [.rejectRequest(.badRequest)] + close(.transportError)
        case .websocket:
            return [.rejectRequest(.badRequest)]
        case .closing(let reason):
            // The last answers: what was still waiting, then the close packet.
            let id = makePollID()
            guard outbox.count < Self.maximumPacketsPerPoll else { return [.answerPoll(id, takeForPoll())] }
            let packets = outbox + [.close]
            outbox.removeAll()
            state = .closed(reason)
            return [.answerPoll(id, packets), .cancelPingTimeout, .finish(reason)]
        case .closed:
            return [.rejectRequest(.unknownSession)]
        }
    }

    /// A held GET gave up on its own (connection gone, server stopping).
    mutating func pollAbandoned(_ id: PollID) {
        switch state {
        case .polling(pendingPoll: id): state = .polling(pendingPoll: nil)
        case .upgrading(pendingPoll: id): state = .upgrading(pendingPoll: nil)
        default: break
        }
    }

    /// A POST began; a second concurrent one closes the session.
    mutating func postStarted() -> [Action] {
        switch state {
        case .polling, .upgrading, .closing:
            if postInFlight {
                return [.rejectRequest(.badRequest)] + close(.transportError)
            }
            postInFlight = true
            return []
        case .websocket:
            return [.rejectRequest(.badRequest)]
        case .closed:
            return [.rejectRequest(.unknownSession)]
        }
    }

    mutating func postFinished() {
        postInFlight = false
    }

    // MARK: Packets from the client

    /// A decoded packet arrived over the given transport.
    mutating func packetReceived(_ packet: EnginePacket, via transport: Transport) -> [Action] {
        if isClosed { return [] }
        if case .closing = state, packet.type != .close { return [] }
        switch packet.type {
        case .pong:
            guard awaitingPong else { return [] }
            awaitingPong = false
            return [.cancelPingTimeout, .schedulePing]
        case .ping:
            if transport == .websocket, packet.payload == .text("probe") {
                return probeReceived()
            }
            return []
        case .upgrade:
            guard transport == .websocket, case .upgrading = state else {
                return close(.parseError)
            }
            state = .websocket
            return flushWebSocket()
        case .message:
            guard let payload = packet.payload else { return [.deliver(.text(""))] }
            return [.deliver(payload)]
        case .close:
            return clientClosed()
        case .noop:
            return []
        case .open:
            return close(.parseError)
        }
    }

    private mutating func probeReceived() -> [Action] {
        switch state {
        case .polling(let pending):
            state = .upgrading(pendingPoll: nil)
            webSocketBusy = true
            var actions: [Action] = [.writeWebSocket([EnginePacket(.pong, .text("probe"))])]
            if let pending { actions.append(.answerPoll(pending, [.noop])) }
            return actions
        default:
            return []
        }
    }

    private mutating func clientClosed() -> [Action] {
        var actions: [Action] = []
        switch state {
        case .polling(.some(let id)), .upgrading(.some(let id)):
            actions.append(.answerPoll(id, [.noop]))
        case .websocket, .upgrading:
            actions.append(.closeWebSocket)
        default:
            break
        }
        state = .closed(.clientClose)
        outbox.removeAll()
        return actions + [.cancelPingTimeout, .finish(.clientClose)]
    }

    /// A packet could not be decoded: the protocol says to close the session.
    mutating func decodingFailed() -> [Action] {
        close(.parseError)
    }

    // MARK: WebSocket

    /// A WebSocket with this session's id asks to join (the upgrade path).
    /// Returns false when the session cannot take one now.
    func canAttachWebSocket() -> Bool {
        if case .polling = state { return true }
        return false
    }

    /// The WebSocket carrying this session (or its upgrade probe) went away.
    mutating func webSocketClosed() -> [Action] {
        switch state {
        case .websocket:
            state = .closed(.transportClose)
            outbox.removeAll()
            return [.cancelPingTimeout, .finish(.transportClose)]
        case .upgrading(let pending):
            // The probe failed; carry on with polling.
            state = .polling(pendingPoll: pending)
            webSocketBusy = false
            return []
        default:
            return []
        }
    }

    /// The WebSocket that joined for an upgrade did not complete it in time (Node's
    /// `upgradeTimeout`): it is closed and the session goes on polling.
    mutating func upgradeTimedOut() -> [Action] {
        switch state {
        case .polling:
            return [.closeWebSocket]
        case .upgrading(let pending):
            state = .polling(pendingPoll: pending)
            webSocketBusy = false
            return [.closeWebSocket]
        default:
            return []
        }
    }

    var isUpgrading: Bool {
        if case .upgrading = state { return true }
        return false
    }

    // MARK: Sending

    /// True when a packet sent now would leave at once (a held poll, or an idle WebSocket).
    var isWritable: Bool {
        switch state {
        case .polling(pendingPoll: .some): return true
        case .websocket: return !webSocketBusy
        default: return false
        }
    }

    /// The application sends packets. Volatile packets are dropped unless they can leave at once.
    mutating func send(_ packets: [EnginePacket], volatile: Bool = false) -> [Action] {
        if volatile && !isWritable { return [] }
        switch state {
        case .polling(pendingPoll: .some(let id)):
            state = .polling(pendingPoll: nil)
            outbox.append(contentsOf: packets)
            return [.answerPoll(id, takeForPoll())]
        case .polling(pendingPoll: nil), .upgrading:
            outbox.append(contentsOf: packets)
            return []
        case .websocket:
            outbox.append(contentsOf: packets)
            return flushWebSocket()
        case .closing, .closed:
            return []
        }
    }

    /// The previous batch of frames has been written.
    mutating func webSocketWriteCompleted() -> [Action] {
        webSocketBusy = false
        guard case .websocket = state else { return [] }
        return flushWebSocket()
    }

    /// The first packet sent since the batch in flight was handed over is a broadcast's.
    var webSocketBacklogStartsWithBroadcast: Bool {
        guard case .websocket = state, webSocketBusy else { return false }
        return outbox.first?.isPrepared ?? false
    }

    /// The batch handed over is about to be written (its coalescing window has passed): what was
    /// sent since, waiting for it, leaves in the same write (``WebSocketWriteJoining``).
    /// The batch stays in flight.
    mutating func takeWebSocketBacklog() -> [EnginePacket] {
        guard case .websocket = state, webSocketBusy, !outbox.isEmpty else { return [] }
        defer { outbox = [] }
        return outbox
    }

    private mutating func flushWebSocket() -> [Action] {
        guard !webSocketBusy, !outbox.isEmpty else { return [] }
        webSocketBusy = true
        let packets = outbox
        outbox.removeAll()
        return [.writeWebSocket(packets)]
    }

    // MARK: Heartbeat

    mutating func pingIntervalElapsed() -> [Action] {
        switch state {
        case .closing, .closed: return []
        default: break
        }
        awaitingPong = true
        return send([.ping]) + [.schedulePingTimeout]
    }

    mutating func pingTimeoutElapsed() -> [Action] {
        guard awaitingPong else { return [] }
        return close(.pingTimeout)
    }

    // MARK: Closing

    /// Closes the session from the server side (application request, error, timeout).
    mutating func close(_ reason: EngineCloseReason) -> [Action] {
        var actions: [Action] = []
        switch state {
        case .closed:
            return []
        case .closing(let first):
            // Closed again (the ping timeout, shutdown's last sweep): the last poll is not awaited.
            state = .closed(first)
            outbox.removeAll()
            return [.cancelPingTimeout, .finish(first)]
        case .polling(let pending):
            if let pending {
                actions.append(.answerPoll(pending, [.close]))
            } else if outbox.contains(where: { $0.type == .message }) {
                // Messages wait for the next GET (an ack sent just before the close, say): it gets
                // them and the close packet. The ping timeout bounds the wait for it.
                state = .closing(reason)
                awaitingPong = true
                return [.cancelPingTimeout, .schedulePingTimeout]
            }
        case .upgrading(let pending):
            if let pending { actions.append(.answerPoll(pending, [.close])) }
            actions.append(.closeWebSocket)
        case .websocket:
            // Frames waiting behind a write in flight still go out, before the close packet.
            actions.append(contentsOf: [.writeWebSocket(outbox + [.close]), .closeWebSocket])
        }
        state = .closed(reason)
        outbox.removeAll()
        return actions + [.cancelPingTimeout, .finish(reason)]
    }

    /// Clients refuse payloads of more than 16 packets (python-engineio's limit against
    /// decoding bombs); the rest waits for the next poll.
    static let maximumPacketsPerPoll = 16

    private mutating func takeForPoll() -> [EnginePacket] {
        let count = min(outbox.count, Self.maximumPacketsPerPoll)
        let packets = Array(outbox.prefix(count))
        outbox.removeFirst(count)
        return packets
    }

    private mutating func makePollID() -> PollID {
        nextPollID &+= 1
        return nextPollID
    }
}
