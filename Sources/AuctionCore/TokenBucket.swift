import Foundation

/// A token bucket: `capacity` actions at once, refilled at `rate` per second. Pure; the caller
/// passes the time, so it is tested without clocks.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let rate: Double
    private var tokens: Double
    private var updated: Date

    public init(capacity: Double, rate: Double, now: Date) {
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = now
    }

    /// True when the bucket would be full at `now`: forgetting it changes nothing.
    public func isFull(at now: Date) -> Bool {
        tokens + max(0, now.timeIntervalSince(updated)) * rate >= capacity
    }

    /// Takes one token if there is one.
    public mutating func take(at now: Date) -> Bool {
        let elapsed = max(0, now.timeIntervalSince(updated))
        tokens = min(capacity, tokens + elapsed * rate)
        // Times may come out of order (bids judged by when they arrived, decided later): an
        // earlier one must not wind the clock back and be refilled twice.
        updated = max(updated, now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
