import EngineIO
import NIOCore

/// Runs the jobs of the tasks that prefer it on one NIO event loop: a connection's handlers run
/// on the thread that reads and writes its socket.
///
/// On the global executor every event woke a thread of the cooperative pool, and a broadcast from
/// there touched each session's state from a third thread; on the loop the event is handled in
/// the turn that read it, and the sessions of that loop are written by their own thread. A
/// handler that computes for long holds up the other connections of its loop, as a Node.js
/// handler holds up the whole process.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }

    private static let executors = PerEventLoop { EventLoopTaskExecutor(eventLoop: $0) }

    /// The executor of `eventLoop`, made on first use; one per loop for the process's life.
    static func of(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        executors[eventLoop]
    }
}
