import NIOCore

/// Prints a progress line every second while the benchmark waits on something.
enum ProgressTicker {
    /// Awaits `future`, printing `line()` each second until it completes.
    static func awaiting<Value: Sendable>(
        _ future: EventLoopFuture<Value>,
        line: @escaping @Sendable () -> String
    ) async throws -> Value {
        let ticker = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                Console.line(line())
            }
        }
        defer { ticker.cancel() }
        return try await future.get()
    }
}
