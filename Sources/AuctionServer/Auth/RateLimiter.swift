import AuctionCore
import Foundation
import NIOConcurrencyHelpers

/// Limits actions per key (bids per user) with a token
/// bucket each. Buckets that have refilled are forgotten, so memory stays bounded.
public final class RateLimiter: Sendable {
    private let capacity: Double
    private let rate: Double
    private let buckets = NIOLockedValueBox<[String: TokenBucket]>([:])

    /// `capacity` actions at once, refilled at `perSecond`.
    public init(capacity: Double, perSecond: Double) {
        self.capacity = capacity
        self.rate = perSecond
    }

    public func allow(_ key: String, now: Date = Date()) -> Bool {
        buckets.withLockedValue { buckets in
            if buckets.count > 50_000 { buckets = buckets.filter { !$0.value.isFull(at: now) } }
            var bucket = buckets[key] ?? TokenBucket(capacity: capacity, rate: rate, now: now)
            let allowed = bucket.take(at: now)
            buckets[key] = bucket
            return allowed
        }
    }
}
