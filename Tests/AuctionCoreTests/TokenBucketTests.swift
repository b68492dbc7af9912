import Foundation
import Testing

@testable import AuctionCore

@Test func bucketAllowsBurstThenRefills() {
    let start = Date(timeIntervalSince1970: 0)
    var bucket = TokenBucket(capacity: 3, rate: 2, now: start)
    func take(_ offset: TimeInterval) -> Bool { bucket.take(at: start.addingTimeInterval(offset)) }
    let burst = [take(0), take(0), take(0), take(0)]
    #expect(burst == [true, true, true, false])
    // 0.4 s refills 0.8 of a token: not enough; 0.5 s makes one.
    let refill = [take(0.4), take(0.5), take(0.5)]
    #expect(refill == [false, true, false])
    // A long pause refills to the capacity, never beyond.
    let later = [take(100), take(100), take(100), take(100)]
    #expect(later == [true, true, true, false])
}
