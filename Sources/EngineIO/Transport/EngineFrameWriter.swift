import NIOConcurrencyHelpers
import NIOCore

/// Writes ready-made WebSocket frames straight to the socket, past NIO's frame encoder.
///
/// Server frames are unmasked, so a broadcast's frame is the same bytes for every session: it is
/// built once (``PreparedMessages``) and each session hands the same buffer to its socket.
/// Sits first in the pipeline, next to the socket; frames written above it pass through.
final class EngineFrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// False once the socket has more unsent bytes than its high watermark.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func write(_ frame: ByteBuffer, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func flush() {
        context?.flush()
    }
}

/// Where a session's WebSocket frames go: the channel, its frame writer and its loop's write queue.
/// A class: handed around once per write, one reference is cheaper to copy than its four fields.
final class WebSocketOutput: Sendable {
    let channel: any Channel
    let writer: NIOLoopBound<EngineFrameWriter>
    let queue: EngineWriteQueue
    /// permessage-deflate, when the connection agreed to it.
    let deflate: WebSocketDeflate?

    init(channel: any Channel, writer: NIOLoopBound<EngineFrameWriter>, queue: EngineWriteQueue, deflate: WebSocketDeflate? = nil) {
        self.channel = channel
        self.writer = writer
        self.queue = queue
        self.deflate = deflate
    }
}

/// The sessions of one event loop with frames waiting, written together once per loop turn.
///
/// A broadcast reaches hundreds of sessions from one thread; instead of one task per session on
/// each session's loop, every loop gets one task that writes all of its sessions' frames. What is
/// sent to a session before that task runs leaves in the same write. A session still inside its
/// coalescing window waits for one timer shared by the whole loop, not a timer of its own.
final class EngineWriteQueue: Sendable {
    let eventLoop: any EventLoop

    private struct Pending {
        var sessions: [EngineSession] = []
        var scheduled = false
        /// Sessions to come back to, and when.
        var waiting: [(session: EngineSession, deadline: NIODeadline)] = []
        var timerDeadline: NIODeadline?
    }

    private let pending = NIOLockedValueBox(Pending())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ session: EngineSession) {
        let schedule = pending.withLockedValue { pending in
            pending.sessions.append(session)
            if pending.scheduled { return false }
            pending.scheduled = true
            return true
        }
        if schedule {
            eventLoop.execute { self.drain() }
        }
    }

    private func drain() {
        let sessions = pending.withLockedValue { pending in
            pending.scheduled = false
            defer { pending.sessions = [] }
            return pending.sessions
        }
        write(sessions)
    }

    private func write(_ sessions: [EngineSession]) {
        let now = NIODeadline.now()
        var waiting: [(session: EngineSession, deadline: NIODeadline)] = []
        for session in sessions {
            if let deadline = session.writeQueuedFrames(now: now) { waiting.append((session, deadline)) }
        }
        guard !waiting.isEmpty else { return }
        let arm: NIODeadline? = pending.withLockedValue { pending in
            pending.waiting.append(contentsOf: waiting)
            let earliest = waiting.lazy.map(\.deadline).min()!
            if let armed = pending.timerDeadline, armed <= earliest { return nil }
            pending.timerDeadline = earliest
            return earliest
        }
        if let arm {
            eventLoop.scheduleTask(deadline: arm) { self.timerFired(arm) }
        }
    }

    private func timerFired(_ deadline: NIODeadline) {
        let due: [EngineSession] = pending.withLockedValue { pending in
            // A timer armed earlier than this one re-arms for whatever is left.
            if pending.timerDeadline == deadline { pending.timerDeadline = nil }
            let now = NIODeadline.now()
            let due = pending.waiting.filter { $0.deadline <= now }.map(\.session)
            pending.waiting.removeAll { $0.deadline <= now }
            return due
        }
        write(due)
        let rearm: NIODeadline? = pending.withLockedValue { pending in
            guard pending.timerDeadline == nil, let earliest = pending.waiting.lazy.map(\.deadline).min() else { return nil }
            pending.timerDeadline = earliest
            return earliest
        }
        if let rearm {
            eventLoop.scheduleTask(deadline: rearm) { self.timerFired(rearm) }
        }
    }
}

/// One write queue per event loop, made on first use.
final class EngineWriteQueues: Sendable {
    private let queues = PerEventLoop { EngineWriteQueue(eventLoop: $0) }

    /// The output of a WebSocket whose pipeline has `writer`; call on the channel's loop.
    func output(for channel: any Channel, writer: EngineFrameWriter, deflate: WebSocketDeflate? = nil) -> WebSocketOutput {
        WebSocketOutput(channel: channel, writer: NIOLoopBound(writer, eventLoop: channel.eventLoop), queue: queues[channel.eventLoop], deflate: deflate)
    }
}
