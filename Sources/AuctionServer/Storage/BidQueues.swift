import NIOConcurrencyHelpers

/// Per item, the bids waiting for its next batch, in arrival order. An item is in the table
/// while a batch of it is running: the first bid of an idle item starts the runner, the others
/// only queue, so an item holds at most one pooled connection and other auctions keep theirs.
final class BidQueues<Entry: Sendable>: Sendable {
    private let lines = NIOLockedValueBox<[Int64: [Entry]]>([:])

    /// Queues `entry`; true when no batch of the item is running, and the caller starts one.
    func enqueue(_ entry: Entry, item: Int64) -> Bool {
        lines.withLockedValue { lines in
            guard lines[item] != nil else {
                lines[item] = [entry]
                return true
            }
            lines[item]!.append(entry)
            return false
        }
    }

    /// The next batch of the item: up to `limit` of the bids queued, oldest first; nil when none
    /// is queued, and the item is idle again from then on.
    func nextBatch(item: Int64, limit: Int) -> [Entry]? {
        lines.withLockedValue { lines in
            guard let waiting = lines[item], !waiting.isEmpty else {
                lines.removeValue(forKey: item)
                return nil
            }
            let batch = Array(waiting.prefix(limit))
            lines[item] = Array(waiting.dropFirst(limit))
            return batch
        }
    }
}
