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

@Test func anEarlierTimeDoesNotWindTheClockBackAndRefillTwice() {
    let start = Date(timeIntervalSince1970: 1_000)
    var bucket = TokenBucket(capacity: 2, rate: 1, now: start)
    func take(_ offset: TimeInterval) -> Bool { bucket.take(at: start.addingTimeInterval(offset)) }
    // Two at 10 s empty the bucket; a bid that arrived at 9 s, judged after them, finds none and
    // must not move the clock back: had it, 11 s would look like two seconds of refill.
    let taken = [take(10), take(10), take(9), take(11), take(11)]
    #expect(taken == [true, true, false, true, false])
}
