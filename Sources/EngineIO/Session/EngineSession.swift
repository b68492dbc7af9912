import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// One Engine.IO session: the runtime around ``EngineSessionStateMachine``.
///
/// State lives behind a lock; every event runs the machine under the lock and
/// performs the resulting effects (answering polls, writing frames, calling the
/// application) after releasing it.
public final class EngineSession: Sendable {
    public typealias MessageHandler = @Sendable (EngineMessage) -> Void
    public typealias CloseHandler = @Sendable (EngineCloseReason) -> Void

    /// The session id (`sid`).
    public let id: String
    /// The handshake request.
    public let request: EngineRequest
    /// What `allowRequest` attached.
    public let attachments: [String: String]

    public let eventLoop: any EventLoop
    private let configuration: EngineConfiguration
    static let coalescingWindow = TimeAmount.milliseconds(2)
    private let runtime: NIOLockedValueBox<Runtime>
    private let onFinish: @Sendable (EngineSession, EngineCloseReason) -> Void

    enum PollOutcome: Sendable {
        case packets([EnginePacket])
        case error(EngineError)
    }

    struct Runtime {
        var machine: EngineSessionStateMachine
        var pollWaiters: [EngineSessionStateMachine.PollID: CheckedContinuation<PollOutcome, Never>] = [:]
        var webSocket: (any Channel)?
        /// Timers are never cancelled (NIO's cancel scans every timer of the loop, which is
        /// quadratic with thousands of sessions); a fired timer whose generation is stale does nothing.
        var pingGeneration: UInt64 = 0
        var pingTimeoutGeneration: UInt64 = 0
        var onMessage: MessageHandler?
        var onClose: CloseHandler?
        /// When this session last wrote WebSocket frames.
        var lastWebSocketWrite = NIODeadline.uptimeNanoseconds(0)
        /// Messages that arrived before the application installed its handler.
        var early: [EngineMessage] = []
    }

    private enum Effect {
        case resumePoll(CheckedContinuation<PollOutcome, Never>, PollOutcome)
        case write(any Channel, [EnginePacket])
        case closeChannel(any Channel)
        case deliver(MessageHandler?, EngineMessage)
        case finished(CloseHandler?, EngineCloseReason)
    }

    init(
        id: String,
        request: EngineRequest,
        attachments: [String: String],
        transport: EngineTransport,
        webSocket: (any Channel)?,
        eventLoop: any EventLoop,
        configuration: EngineConfiguration,
        onFinish: @escaping @Sendable (EngineSession, EngineCloseReason) -> Void
    ) {
        self.id = id
        self.request = request
        self.attachments = attachments
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.onFinish = onFinish
        var runtime = Runtime(machine: EngineSessionStateMachine(transport: transport == .polling ? .polling : .websocket))
        runtime.webSocket = webSocket
        self.runtime = NIOLockedValueBox(runtime)
    }

    // MARK: Application API

    /// Installs the application's handlers; messages that arrived earlier are delivered now, in order.
    public func setHandlers(onMessage: @escaping MessageHandler, onClose: @escaping CloseHandler) {
        let (early, closedReason): ([EngineMessage], EngineCloseReason?) = runtime.withLockedValue { runtime in
            runtime.onMessage = onMessage
            runtime.onClose = onClose
            defer { runtime.early.removeAll() }
            if case .closed(let reason) = runtime.machine.state { return (runtime.early, reason) }
            return (runtime.early, nil)
        }
        for message in early { onMessage(message) }
        if let closedReason { onClose(closedReason) }
    }

    /// Sends messages to the client, in order. Volatile messages are dropped when the transport
    /// cannot take them right now (no held poll, or a write still in flight).
    public func send(_ messages: [EngineMessage], volatile: Bool = false) {
        let packets = messages.map { EnginePacket(.message, $0) }
        run { $0.send(packets, volatile: volatile) }
    }

    public func send(_ message: EngineMessage) {
        send([message])
    }

    /// Sends messages encoded once for many sessions (see ``PreparedMessages``).
    public func send(_ prepared: PreparedMessages, volatile: Bool = false) {
        run { $0.send(prepared.packets, volatile: volatile) }
    }

    /// Closes the session from the server side; the client gets a `close` packet.
    public func close(reason: EngineCloseReason = .serverClose) {
        run { $0.close(reason) }
    }

    public var transport: EngineTransport? {
        runtime.withLockedValue { runtime in
            switch runtime.machine.transport {
            case .polling: .polling
            case .websocket: .websocket
            case nil: nil
            }
        }
    }

    public var isClosed: Bool { runtime.withLockedValue { $0.machine.isClosed } }

    // MARK: Transport events

    func opened() {
        run { $0.opened() }
    }

    /// A GET with this sid: returns what to answer, waiting if nothing is buffered.
    func poll() async -> PollOutcome {
        await withCheckedContinuation { continuation in
            var effects: [Effect] = []
            let immediate: PollOutcome? = runtime.withLockedValue { runtime in
                let actions = runtime.machine.pollRequested()
                var immediate: PollOutcome?
                for action in actions {
                    switch action {
                    case .holdPoll(let id):
                        runtime.pollWaiters[id] = continuation
                    case .answerPoll(let id, let packets) where runtime.pollWaiters[id] == nil:
                        immediate = .packets(packets)
                    case .rejectRequest(let error):
                        immediate = .error(error)
                    default:
                        effects.append(contentsOf: translate(action, &runtime))
                    }
                }
                return immediate
            }
            perform(effects)
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// A POST with this sid begins: an error to answer with at once (a second concurrent POST),
    /// or nil to go on reading the body.
    func beginPost() -> EngineError? {
        var rejection: EngineError?
        run { machine in
            let actions = machine.postStarted()
            for case .rejectRequest(let error) in actions { rejection = error }
            return actions
        }
        return rejection
    }

    /// The body of the POST begun with ``beginPost()``; nil when it was too large or unreadable.
    /// Returns an error to answer with, or nil for `ok`.
    func finishPost(_ body: ByteBuffer?) -> EngineError? {
        defer { runtime.withLockedValue { $0.machine.postFinished() } }
        guard let body else {
            run { $0.close(.transportError) }
            return .badRequest
        }
        let packets: [EnginePacket]
        do {
            packets = try EnginePacketCodec.decodePayload(body)
        } catch {
            run { $0.decodingFailed() }
            return .badRequest
        }
        for packet in packets {
            run { $0.packetReceived(packet, via: .polling) }
        }
        return nil
    }

    /// A frame arrived on a WebSocket attached to this session.
    func receiveFrame(_ packet: EnginePacket?) {
        guard let packet else {
            run { $0.decodingFailed() }
            return
        }
        run { $0.packetReceived(packet, via: .websocket) }
    }

    /// Attaches a WebSocket for the upgrade. False when the session cannot take one now.
    func attachUpgradingWebSocket(_ channel: any Channel) -> Bool {
        runtime.withLockedValue { runtime in
            guard configuration.allowUpgrades, runtime.machine.canAttachWebSocket(), runtime.webSocket == nil else { return false }
            runtime.webSocket = channel
            return true
        }
    }

    func canAttachWebSocket() -> Bool {
        runtime.withLockedValue { $0.machine.canAttachWebSocket() && $0.webSocket == nil && configuration.allowUpgrades }
    }

    func webSocketClosed(_ channel: any Channel) {
        run { machine, runtime in
            guard runtime.webSocket === channel else { return [] }
            runtime.webSocket = nil
            return machine.webSocketClosed()
        }
    }

    // MARK: Running the machine

    private func run(_ event: (inout EngineSessionStateMachine) -> [EngineSessionStateMachine.Action]) {
        run { machine, _ in event(&machine) }
    }

    private func run(_ event: (inout EngineSessionStateMachine, inout Runtime) -> [EngineSessionStateMachine.Action]) {
        let effects: [Effect] = runtime.withLockedValue { runtime in
            var machine = runtime.machine
            let actions = event(&machine, &runtime)
            runtime.machine = machine
            return actions.flatMap { translate($0, &runtime) }
        }
        perform(effects)
    }

    private func translate(_ action: EngineSessionStateMachine.Action, _ runtime: inout Runtime) -> [Effect] {
        switch action {
        case .answerPoll(let id, let packets):
            guard let waiter = runtime.pollWaiters.removeValue(forKey: id) else { return [] }
            return [.resumePoll(waiter, .packets(packets))]
        case .holdPoll, .rejectRequest:
            return []
        case .writeWebSocket(let packets):
            guard let channel = runtime.webSocket else { return [] }
            return [.write(channel, packets)]
        case .closeWebSocket:
            guard let channel = runtime.webSocket else { return [] }
            return [.closeChannel(channel)]
        case .deliver(let message):
            guard let handler = runtime.onMessage else {
                runtime.early.append(message)
                return []
            }
            return [.deliver(handler, message)]
        case .schedulePing:
            runtime.pingGeneration &+= 1
            let generation = runtime.pingGeneration
            eventLoop.scheduleTask(in: TimeAmount(configuration.pingInterval)) { [weak self] in
                self?.run { machine, runtime in
                    guard runtime.pingGeneration == generation else { return [] }
                    return machine.pingIntervalElapsed()
                }
            }
            return []
        case .schedulePingTimeout:
            runtime.pingTimeoutGeneration &+= 1
            let generation = runtime.pingTimeoutGeneration
            eventLoop.scheduleTask(in: TimeAmount(configuration.pingTimeout)) { [weak self] in
                self?.run { machine, runtime in
                    guard runtime.pingTimeoutGeneration == generation else { return [] }
                    return machine.pingTimeoutElapsed()
                }
            }
            return []
        case .cancelPingTimeout:
            runtime.pingTimeoutGeneration &+= 1
            return []
        case .finish(let reason):
            runtime.pingGeneration &+= 1
            runtime.pingTimeoutGeneration &+= 1
            var effects: [Effect] = runtime.pollWaiters.values.map { .resumePoll($0, .packets([.noop])) }
            runtime.pollWaiters.removeAll()
            effects.append(.finished(runtime.onClose, reason))
            runtime.onMessage = nil
            runtime.onClose = nil
            return effects
        }
    }

    private func writeFrames(_ packets: [EnginePacket], to channel: any Channel) {
        runtime.withLockedValue { $0.lastWebSocketWrite = .now() }
        let written = channel.eventLoop.makePromise(of: Void.self)
        for (index, packet) in packets.enumerated() {
            let (buffer, isBinary) = EnginePacketCodec.encodeForWebSocket(packet, allocator: channel.allocator)
            let frame = WebSocketFrame(fin: true, opcode: isBinary ? .binary : .text, data: buffer)
            channel.write(frame, promise: index == packets.count - 1 ? written : nil)
        }
        if packets.isEmpty { written.succeed() }
        channel.flush()
        written.futureResult.whenComplete { [weak self] _ in
            self?.run { $0.webSocketWriteCompleted() }
        }
    }

    private func perform(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case .resumePoll(let continuation, let outcome):
                continuation.resume(returning: outcome)
            case .write(let channel, let packets):
                channel.eventLoop.executeSoon { [weak self] in
                    guard let self else { return }
                    // Batches to one WebSocket leave at least a coalescing window apart: what is
                    // sent meanwhile queues and leaves together, in its own TCP segment. A timer is
                    // needed only inside a burst; steady traffic writes at once.
                    let earliest = self.runtime.withLockedValue { $0.lastWebSocketWrite } + EngineSession.coalescingWindow
                    if NIODeadline.now() >= earliest {
                        self.writeFrames(packets, to: channel)
                    } else {
                        channel.eventLoop.scheduleTask(deadline: earliest) { self.writeFrames(packets, to: channel) }
                    }
                }
            case .closeChannel(let channel):
                channel.eventLoop.execute {
                    let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: WebSocketErrorCode.normalClosure.buffer(channel.allocator))
                    channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
                }
            case .deliver(let handler, let message):
                handler?(message)
            case .finished(let handler, let reason):
                onFinish(self, reason)
                handler?(reason)
            }
        }
    }
}

extension WebSocketErrorCode {
    func buffer(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: self)
        return buffer
    }
}

extension EventLoop {
    /// Runs `body` now when already on this loop, else on it as soon as possible.
    func executeSoon(_ body: @escaping @Sendable () -> Void) {
        if inEventLoop { body() } else { execute(body) }
    }
}
