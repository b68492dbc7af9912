/// Tells a fanout client, through its pipeline, to become emitter `emitter` and send bids at
/// `ratePerSecond` from `start` until `end` (`BenchClock` nanoseconds).
struct BidEmission: Sendable {
    var emitter: Int
    var ratePerSecond: Double
    var start: Int64
    var end: Int64
}
