import NIOConcurrencyHelpers

/// Runs async jobs one after another, in the order they were enqueued.
///
/// A task exists only while jobs are waiting, so an idle connection costs no task; and the queue
/// is an array taken whole by the running task, so an idle connection holds no queue storage.
public final class SerialMailbox: Sendable {
    public typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs: [Job] = []
        var running = false
    }

    private let state = NIOLockedValueBox(State())
    /// Where the jobs run; nil: the global executor.
    private let executor: (any TaskExecutor)?

    public init() {
        executor = nil
    }

    /// Jobs run on `executor` (a connection's event loop: ``EventLoopTaskExecutor``).
    init(executor: any TaskExecutor) {
        self.executor = executor
    }

    public func enqueue(_ job: @escaping Job) {
        let start = state.withLockedValue { state in
            state.jobs.append(job)
            if state.running { return false }
            state.running = true
            return true
        }
        if start {
            Task(executorPreference: executor) { await self.drain() }
        }
    }

    private func drain() async {
        while true {
            let jobs: [Job] = state.withLockedValue { state in
                if state.jobs.isEmpty {
                    state.running = false
                    return []
                }
                defer { state.jobs = [] }
                return state.jobs
            }
            if jobs.isEmpty { return }
            for job in jobs { await job() }
        }
    }
}
