import NIOConcurrencyHelpers
import NIOCore

/// Runs async jobs one after another, in the order they were enqueued.
///
/// A task exists only while jobs are waiting, so an idle connection costs no task.
public final class SerialMailbox: Sendable {
    public typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs = CircularBuffer<Job>()
        var running = false
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func enqueue(_ job: @escaping Job) {
        let start = state.withLockedValue { state in
            state.jobs.append(job)
            if state.running { return false }
            state.running = true
            return true
        }
        if start {
            Task { await self.drain() }
        }
    }

    private func drain() async {
        while true {
            let job: Job? = state.withLockedValue { state in
                if state.jobs.isEmpty {
                    state.running = false
                    return nil
                }
                return state.jobs.removeFirst()
            }
            guard let job else { return }
            await job()
        }
    }
}
