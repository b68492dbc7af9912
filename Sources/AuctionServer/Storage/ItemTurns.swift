import NIOConcurrencyHelpers

/// Bids of one item take turns inside this process before they take a database connection, so
/// a busy auction holds at most one pooled connection waiting on its advisory lock and other
/// auctions keep theirs.
final class ItemTurns: Sendable {
    private struct Line {
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    /// Items with a bid in progress, and who waits behind it.
    private let lines = NIOLockedValueBox<[Int64: Line]>([:])

    func withTurn<Result: Sendable>(_ item: Int64, _ body: () async throws -> Result) async rethrows -> Result {
        await acquire(item)
        defer { release(item) }
        return try await body()
    }

    private func acquire(_ item: Int64) async {
        await withCheckedContinuation { continuation in
            let mine = lines.withLockedValue { lines -> Bool in
                if lines[item] == nil {
                    lines[item] = Line()
                    return true
                }
                lines[item]!.waiting.append(continuation)
                return false
            }
            if mine { continuation.resume() }
        }
    }

    private func release(_ item: Int64) {
        let next = lines.withLockedValue { lines -> CheckedContinuation<Void, Never>? in
            guard var line = lines[item] else { return nil }
            if line.waiting.isEmpty {
                lines.removeValue(forKey: item)
                return nil
            }
            let next = line.waiting.removeFirst()
            lines[item] = line
            return next
        }
        next?.resume()
    }
}
