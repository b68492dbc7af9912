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
    /// Told the transport the session moved to (Node's `upgrade` event of a socket's `conn`).
    public typealias UpgradeHandler = @Sendable (EngineTransport) -> Void

    /// The session id (`sid`).
    public let id: String
    /// The handshake request.
    public let request: EngineRequest
    /// What `allowRequest` attached.
    public let attachments: [String: String]
    /// Who opened the session, when `allowRequest` said: every later request must be theirs.
    public let identity: String?
    /// The id as logs show it (``SessionID/redacted(_:)``): the `sid` is all a client without an
    /// identity needs to use the session.
    public var logID: String { SessionID.redacted(id) }

    public let eventLoop: any EventLoop
    /// What the session needs of the server's configuration, taken from it once: the whole
    /// configuration (440 bytes) in every session was about 5 % of an idle connection's memory.
    private let settings: Settings
    private let statistics: EngineStatistics
    private let runtime: NIOLockedValueBox<Runtime>
    private let onFinish: @Sendable (EngineSession, EngineCloseReason) -> Void
    /// What the session's timers call back; let go when the session finishes.
    private let timerTarget = CallbackTarget<EngineSession>()

    enum PollOutcome: Sendable {
        case packets([EnginePacket])
        case error(EngineError)
    }

    private struct Settings: Sendable {
        var allowUpgrades: Bool
        var joining: WebSocketWriteJoining
        var upgradeTimeout: TimeAmount
        var pingInterval: TimeAmount
        var pingTimeout: TimeAmount
        /// Batches to one WebSocket leave at least this far apart; what is sent meanwhile waits
        /// and leaves together (``EngineConfiguration/webSocketWriteCoalescing``).
        var coalescingWindow: TimeAmount

        init(_ configuration: EngineConfiguration) {
            allowUpgrades = configuration.allowUpgrades
            joining = configuration.webSocketWriteJoining
            upgradeTimeout = TimeAmount(configuration.upgradeTimeout)
            pingInterval = TimeAmount(configuration.pingInterval)
            pingTimeout = TimeAmount(configuration.pingTimeout)
            coalescingWindow = TimeAmount(configuration.webSocketWriteCoalescing)
        }
    }

    struct Runtime {
        var machine: EngineSessionStateMachine
        var pollWaiters: [EngineSessionStateMachine.PollID: CheckedContinuation<PollOutcome, Never>] = [:]
        var webSocket: WebSocketOutput?
        /// Packets handed to the WebSocket, waiting for its loop's write queue to run.
        var queuedFrames: [EnginePacket] = []
        /// The session is in its loop's write queue.
        var writeQueued = false
        /// The socket took more than its high watermark; the next batch waits until it drains.
        var awaitingWritability = false
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
        var onUpgrade: [UpgradeHandler] = []
        /// Which WebSocket's upgrade a fired upgrade deadline is for.
        var upgradeGeneration: UInt64 = 0
    }

    private enum Effect {
        case resumePoll(CheckedContinuation<PollOutcome, Never>, PollOutcome)
        case queueWrite(EngineWriteQueue)
        case closeChannel(WebSocketOutput)
        case deliver(MessageHandler?, EngineMessage)
        case finished(CloseHandler?, EngineCloseReason)
        case upgraded([UpgradeHandler])
    }

    /// The effects of one event, in order. Most events have none or one, which need no array.
    private struct Effects {
        private var first: Effect?
        private var rest: [Effect] = []

        mutating func append(_ effect: Effect) {
            if first == nil { first = effect } else { rest.append(effect) }
        }

        func forEach(_ body: (Effect) -> Void) {
            guard let first else { return }
            body(first)
            rest.forEach(body)
        }
    }

    init(
        id: String,
        request: EngineRequest,
        attachments: [String: String],
        identity: String?,
        transport: EngineTransport,
        webSocket: WebSocketOutput?,
        eventLoop: any EventLoop,
        configuration: EngineConfiguration,
        statistics: EngineStatistics = EngineStatistics(),
        onFinish: @escaping @Sendable (EngineSession, EngineCloseReason) -> Void
    ) {
        self.id = id
        self.request = request
        self.attachments = attachments
        self.identity = identity
        self.eventLoop = eventLoop
        self.settings = Settings(configuration)
        self.statistics = statistics
        self.onFinish = onFinish
        var runtime = Runtime(machine: EngineSessionStateMachine(transport: transport == .polling ? .polling : .websocket))
        runtime.webSocket = webSocket
        self.runtime = NIOLockedValueBox(runtime)
        timerTarget.set(self)
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
        statistics.countSent(packets.count)
        run { $0.send(packets, volatile: volatile) }
    }

    public func send(_ message: EngineMessage) {
        send([message])
    }

    /// Sends messages encoded once for many sessions (see ``PreparedMessages``).
    public func send(_ prepared: PreparedMessages, volatile: Bool = false) {
        statistics.countSent(prepared.packets.count)
        run { $0.send(prepared.packets, volatile: volatile) }
    }

    /// Runs when the session moves from polling to WebSocket.
    public func onUpgrade(_ handler: @escaping UpgradeHandler) {
        runtime.withLockedValue { $0.onUpgrade.append(handler) }
    }

    /// The client's IP address, as the transport saw it.
    public var remoteAddress: String? { request.remoteAddress?.ipAddress }

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
            var effects = Effects()
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
                        translate(action, &runtime, into: &effects)
                    }
                }
                return immediate
            }
            effects.forEach(perform)
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
        let wasPolling = packet.type == .upgrade && transport == .polling
        run { $0.packetReceived(packet, via: .websocket) }
        if wasPolling, transport == .websocket { statistics.countUpgrade() }
    }

    /// Attaches a WebSocket for the upgrade. False when the session cannot take one now.
    func attachUpgradingWebSocket(_ output: WebSocketOutput) -> Bool {
        let generation: UInt64? = runtime.withLockedValue { runtime in
            guard settings.allowUpgrades, runtime.machine.canAttachWebSocket(), runtime.webSocket == nil else { return nil }
            runtime.webSocket = output
            runtime.upgradeGeneration &+= 1
            return runtime.upgradeGeneration
        }
        guard let generation else { return false }
        _ = try? eventLoop.scheduleCallback(in: settings.upgradeTimeout, handler: UpgradeDeadline(target: timerTarget, generation: generation))
        return true
    }

    fileprivate func upgradeDeadlinePassed(generation: UInt64) {
        transition { runtime in
            guard runtime.upgradeGeneration == generation else { return [] }
            return runtime.machine.upgradeTimedOut()
        }
    }

    func canAttachWebSocket() -> Bool {
        runtime.withLockedValue { $0.machine.canAttachWebSocket() && $0.webSocket == nil && settings.allowUpgrades }
    }

    func webSocketClosed(_ channel: any Channel) {
        transition { runtime in
            guard runtime.webSocket?.channel === channel else { return [] }
            runtime.webSocket = nil
            runtime.queuedFrames.removeAll()
            runtime.awaitingWritability = false
            return runtime.machine.webSocketClosed()
        }
    }

    /// The WebSocket's socket drained below its low watermark.
    func webSocketBecameWritable() {
        let resume = runtime.withLockedValue { runtime in
            defer { runtime.awaitingWritability = false }
            return runtime.awaitingWritability
        }
        if resume { run { $0.webSocketWriteCompleted() } }
    }

    /// Runs on the WebSocket's event loop (its write queue): writes every queued packet as a
    /// ready-made frame, then lets the machine hand over what was sent meanwhile. With `now`,
    /// keeps the coalescing window and returns when to come back (nil: nothing left to write);
    /// without, writes at once (before a close frame).
    @discardableResult
    func writeQueuedFrames(now: NIODeadline? = nil) -> NIODeadline? {
        guard let output = runtime.withLockedValue({ $0.webSocket }) else { return nil }
        guard output.channel.eventLoop.inEventLoop else {
            // A WebSocket that replaced the one this session was queued for: its own loop writes.
            output.queue.enqueue(self)
            return nil
        }
        enum Step {
            case write([EnginePacket])
            case wait(NIODeadline)
            case idle
        }
        let step: Step = runtime.withLockedValue { runtime in
            if runtime.queuedFrames.isEmpty {
                runtime.writeQueued = false
                return .idle
            }
            if let now, now < runtime.lastWebSocketWrite + settings.coalescingWindow {
                return .wait(runtime.lastWebSocketWrite + settings.coalescingWindow)
            }
            runtime.lastWebSocketWrite = now ?? .now()
            // What was sent after this batch was handed over waits in the machine; whether it
            // joins this write or waits for the next window is `settings.joining`'s choice.
            let joins: Bool
            switch settings.joining {
            case .nextWindow: joins = false
            case .waitingBatch: joins = true
            case .withBroadcasts: joins = runtime.machine.webSocketBacklogStartsWithBroadcast || runtime.queuedFrames.contains(where: \.isPrepared)
            }
            if joins { runtime.queuedFrames.append(contentsOf: runtime.machine.takeWebSocketBacklog()) }
            defer { runtime.queuedFrames = [] }
            return .write(runtime.queuedFrames)
        }
        let batch: [EnginePacket]
        switch step {
        case .idle: return nil
        case .wait(let deadline): return deadline
        case .write(let packets): batch = packets
        }
        let writer = output.writer.value
        Self.write(batch, to: writer, allocator: output.channel.allocator, deflate: output.deflate)
        writer.flush()
        if !writer.isWritable {
            // Backpressure: further packets wait in the machine until the socket drains.
            runtime.withLockedValue { runtime in
                runtime.awaitingWritability = true
                runtime.writeQueued = false
            }
            return nil
        }
        // Appends what was sent meanwhile to `queuedFrames` without queueing again
        // (`writeQueued` is still set); the write queue comes back for it after the window.
        run { $0.webSocketWriteCompleted() }
        let more = runtime.withLockedValue { runtime in
            if runtime.queuedFrames.isEmpty { runtime.writeQueued = false }
            return !runtime.queuedFrames.isEmpty
        }
        if !more { return nil }
        if now == nil { return writeQueuedFrames() }
        return runtime.withLockedValue { $0.lastWebSocketWrite } + settings.coalescingWindow
    }

    /// Frames up to this size are copied into one buffer with the others of their batch.
    private static let joinedFrameLimit = 4096

    /// Writes a batch's frames, in order. Small frames go through the pipeline together, in one
    /// buffer: each buffer written is a pass through the pipeline, an entry in NIO's pending
    /// writes and an iovec of the `writev`, which cost more than copying a small frame's bytes.
    private static func write(_ batch: [EnginePacket], to writer: EngineFrameWriter, allocator: ByteBufferAllocator, deflate: WebSocketDeflate?) {
        guard batch.count > 1 else {
            if let packet = batch.first { writer.write(EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator, deflate: deflate)) }
            return
        }
        var joined: ByteBuffer?
        for packet in batch {
            let frame = EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator, deflate: deflate)
            if frame.readableBytes > joinedFrameLimit {
                if let pending = joined.take() { writer.write(pending) }
                writer.write(frame)
                continue
            }
            if joined == nil { joined = allocator.buffer(capacity: batch.count * (frame.readableBytes + 8)) }
            joined!.writeImmutableBuffer(frame)
        }
        if let pending = joined { writer.write(pending) }
    }

    // MARK: Running the machine

    private func run(_ event: (inout EngineSessionStateMachine) -> [EngineSessionStateMachine.Action]) {
        transition { runtime in event(&runtime.machine) }
    }

    /// The machine is changed where it lives: a copy of it would share its buffers and copy them
    /// on the first change, once per packet sent.
    private func transition(_ event: (inout Runtime) -> [EngineSessionStateMachine.Action]) {
        let effects: Effects = runtime.withLockedValue { runtime in
            let wasUpgrading = runtime.machine.isUpgrading
            let actions = event(&runtime)
            var effects = Effects()
            for action in actions { translate(action, &runtime, into: &effects) }
            if wasUpgrading, runtime.machine.transport == .websocket, !runtime.onUpgrade.isEmpty {
                // A session upgrades once; letting go of the handlers frees what they hold.
                effects.append(.upgraded(runtime.onUpgrade))
                runtime.onUpgrade = []
            }
            return effects
        }
        effects.forEach(perform)
    }

    private func translate(_ action: EngineSessionStateMachine.Action, _ runtime: inout Runtime, into effects: inout Effects) {
        switch action {
        case .answerPoll(let id, let packets):
            guard let waiter = runtime.pollWaiters.removeValue(forKey: id) else { return }
            effects.append(.resumePoll(waiter, .packets(packets)))
        case .holdPoll, .rejectRequest:
            return
        case .writeWebSocket(let packets):
            guard let output = runtime.webSocket else { return }
            // Nothing waiting (the usual case): the batch's own storage becomes the queue.
            if runtime.queuedFrames.isEmpty {
                runtime.queuedFrames = packets
            } else {
                runtime.queuedFrames.append(contentsOf: packets)
            }
            if runtime.writeQueued { return }
            runtime.writeQueued = true
            effects.append(.queueWrite(output.queue))
        case .closeWebSocket:
            guard let output = runtime.webSocket else { return }
            effects.append(.closeChannel(output))
        case .deliver(let message):
            statistics.countReceived()
            guard let handler = runtime.onMessage else {
                runtime.early.append(message)
                return
            }
            effects.append(.deliver(handler, message))
        case .schedulePing:
            runtime.pingGeneration &+= 1
            let timer = HeartbeatTimer(target: timerTarget, kind: .ping, generation: runtime.pingGeneration)
            _ = try? eventLoop.scheduleCallback(in: settings.pingInterval, handler: timer)
        case .schedulePingTimeout:
            runtime.pingTimeoutGeneration &+= 1
            let timer = HeartbeatTimer(target: timerTarget, kind: .pingTimeout, generation: runtime.pingTimeoutGeneration)
            _ = try? eventLoop.scheduleCallback(in: settings.pingTimeout, handler: timer)
        case .cancelPingTimeout:
            runtime.pingTimeoutGeneration &+= 1
        case .finish(let reason):
            runtime.pingGeneration &+= 1
            runtime.pingTimeoutGeneration &+= 1
            timerTarget.release()
            for waiter in runtime.pollWaiters.values { effects.append(.resumePoll(waiter, .packets([.noop]))) }
            runtime.pollWaiters.removeAll()
            effects.append(.finished(runtime.onClose, reason))
            runtime.onMessage = nil
            runtime.onClose = nil
            runtime.onUpgrade = []
        }
    }

    fileprivate func heartbeatTimerFired(_ kind: HeartbeatTimer.Kind, generation: UInt64) {
        transition { runtime in
            switch kind {
            case .ping:
                guard runtime.pingGeneration == generation else { return [] }
                return runtime.machine.pingIntervalElapsed()
            case .pingTimeout:
                guard runtime.pingTimeoutGeneration == generation else { return [] }
                return runtime.machine.pingTimeoutElapsed()
            }
        }
    }

    private func perform(_ effect: Effect) {
        switch effect {
        case .resumePoll(let continuation, let outcome):
            continuation.resume(returning: outcome)
        case .queueWrite(let queue):
            queue.enqueue(self)
        case .closeChannel(let output):
            let channel = output.channel
            channel.eventLoop.execute {
                // Frames still queued (the close packet among them) leave before the close frame.
                self.writeQueuedFrames()
                // Through the frame writer, next to the socket: on a connection upgraded after
                // other requests, the pipeline's end still takes HTTP parts only.
                let writer = output.writer.value
                let written = channel.eventLoop.makePromise(of: Void.self)
                writer.write(WebSocketCloseFrame.normalClosure(channel.allocator), promise: written)
                writer.flush()
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        case .deliver(let handler, let message):
            handler?(message)
        case .finished(let handler, let reason):
            onFinish(self, reason)
            handler?(reason)
        case .upgraded(let handlers):
            for handler in handlers { handler(.websocket) }
        }
    }
}

/// An unmasked Close frame, as the server sends it.
enum WebSocketCloseFrame {
    static func normalClosure(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 4)
        buffer.writeBytes([0x88, 0x02])
        buffer.write(webSocketErrorCode: .normalClosure)
        return buffer
    }
}

extension WebSocketErrorCode {
    func buffer(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 2)
        buffer.write(webSocketErrorCode: self)
        return buffer
    }
}

/// The deadline of one upgrade attempt (``EngineConfiguration/upgradeTimeout``).
private struct UpgradeDeadline: NIOScheduledCallbackHandler, Sendable {
    let target: CallbackTarget<EngineSession>
    let generation: UInt64

    func handleScheduledCallback(eventLoop: some EventLoop) {
        target.object?.upgradeDeadlinePassed(generation: generation)
    }
}

/// A heartbeat deadline of one session. Scheduled as a callback, it costs the event loop a slot
/// in its timer heap and no allocation (a task would allocate a closure and a promise); the
/// target it shares with the session's other timers is no weak reference (``CallbackTarget``).
private struct HeartbeatTimer: NIOScheduledCallbackHandler, Sendable {
    enum Kind {
        case ping
        case pingTimeout
    }

    let target: CallbackTarget<EngineSession>
    let kind: Kind
    let generation: UInt64

    func handleScheduledCallback(eventLoop: some EventLoop) {
        target.object?.heartbeatTimerFired(kind, generation: generation)
    }
}
