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

    func write(_ frame: ByteBuffer) {
        context?.write(wrapOutboundOut(frame), promise: nil)
    }

    func flush() {
        context?.flush()
    }
}

/// Where a session's WebSocket frames go: the channel, its frame writer and its loop's write queue.
struct WebSocketOutput: Sendable {
    let channel: any Channel
    let writer: NIOLoopBound<EngineFrameWriter>
    let queue: EngineWriteQueue
}

/// The sessions of one event loop with frames waiting, written together once per loop turn.
///
/// A broadcast reaches hundreds of sessions from one thread; instead of one task per session on
/// each session's loop, every loop gets one task that writes all of its sessions' frames. What is
/// sent to a session before that task runs leaves in the same write.
final class EngineWriteQueue: Sendable {
    let eventLoop: any EventLoop

    private struct Pending {
        var sessions: [EngineSession] = []
        var scheduled = false
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
            defer { pending.sessions.removeAll(keepingCapacity: true) }
            return pending.sessions
        }
        for session in sessions { session.writeQueuedFrames() }
    }
}

/// One write queue per event loop, made on first use.
final class EngineWriteQueues: Sendable {
    private let queues = NIOLockedValueBox<[ObjectIdentifier: EngineWriteQueue]>([:])

    func queue(for eventLoop: any EventLoop) -> EngineWriteQueue {
        queues.withLockedValue { queues in
            let key = ObjectIdentifier(eventLoop)
            if let queue = queues[key] { return queue }
            let queue = EngineWriteQueue(eventLoop: eventLoop)
            queues[key] = queue
            return queue
        }
    }
}
