import NIOConcurrencyHelpers
import NIOCore

/// Opens many clients with a bounded number of handshakes in flight, so the listener's accept
/// queue and SYN backlog are never flooded; each completion starts the next connection.
final class ConnectionRamp: Sendable {
    struct Progress: Sendable {
        var started = 0
        var succeeded = 0
        var failed = 0
        /// Failure descriptions with how often each occurred.
        var failures: [String: Int] = [:]
    }

    struct Outcome: Sendable {
        /// The connected channels, ordered by client index (failed clients are left out).
        var channels: [Channel]
        var progress: Progress
    }

    private struct State {
        var progress = Progress()
        var channels: [(index: Int, channel: Channel)] = []
    }

    let total: Int
    let parallelism: Int
    private let connect: @Sendable (Int) -> EventLoopFuture<Channel>
    private let state = NIOLockedValueBox(State())
    private let done: EventLoopPromise<Outcome>

    /// `connect(i)` opens client `i`, for `i` in `0..<total`.
    init(total: Int, parallelism: Int, completionLoop: EventLoop, connect: @escaping @Sendable (Int) -> EventLoopFuture<Channel>) {
        self.total = total
        self.parallelism = max(1, parallelism)
        self.connect = connect
        self.done = completionLoop.makePromise()
    }

    var progress: Progress { state.withLockedValue { $0.progress } }

    /// Starts the ramp; the future completes when every client has connected or failed.
    func run() -> EventLoopFuture<Outcome> {
        if total == 0 { done.succeed(Outcome(channels: [], progress: Progress())) }
        for _ in 0..<min(parallelism, total) { startNext() }
        return done.futureResult
    }

    private func startNext() {
        let index: Int? = state.withLockedValue { state in
            guard state.progress.started < total else { return nil }
            state.progress.started += 1
            return state.progress.started - 1
        }
        guard let index else { return }
        connect(index).whenComplete { result in
            let finished: Outcome? = self.state.withLockedValue { state in
                switch result {
                case .success(let channel):
                    state.progress.succeeded += 1
                    state.channels.append((index, channel))
                case .failure(let error):
                    state.progress.failed += 1
                    state.progress.failures[String(describing: error), default: 0] += 1
                }
                guard state.progress.succeeded + state.progress.failed == self.total else { return nil }
                let channels = state.channels.sorted { $0.index < $1.index }.map(\.channel)
                return Outcome(channels: channels, progress: state.progress)
            }
            if let finished {
                self.done.succeed(finished)
            } else {
                // Through the loop, so failures that complete synchronously cannot nest without bound.
                self.done.futureResult.eventLoop.execute { self.startNext() }
            }
        }
    }
}
