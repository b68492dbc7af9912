import NIOConcurrencyHelpers

/// Bytes received off the wire by the connections of one event loop (so the lock is uncontended).
final class WireBytes: Sendable {
    private let count = NIOLockedValueBox(0)

    func add(_ bytes: Int) {
        count.withLockedValue { $0 += bytes }
    }

    var total: Int { count.withLockedValue { $0 } }

    static func total(_ counters: [WireBytes]) -> Int {
        counters.reduce(0) { $0 + $1.total }
    }
}
