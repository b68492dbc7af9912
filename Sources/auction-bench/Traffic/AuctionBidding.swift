/// Tells an auction tab, through its pipeline, to start bidding at `start` and stop at `end`
/// (`BenchClock` nanoseconds): open loop at `ratePerSecond`, or closed loop (the next bid as
/// soon as the previous one is acked) when that is nil.
struct AuctionBidding: Sendable {
    var ratePerSecond: Double?
    var start: Int64
    var end: Int64
}
