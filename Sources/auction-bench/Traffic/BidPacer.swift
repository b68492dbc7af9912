/// Open-loop pacing for one emitter: bid `n` is due at `start + n / rate`, whatever the server's
/// replies, so a slow server is measured as latency instead of silently lowering the offered load.
struct BidPacer: Sendable {
    let start: Int64
    let end: Int64
    let interval: Double
    private(set) var issued = 0

    /// `rate` is bids per second for this emitter; times are `BenchClock` nanoseconds.
    init(ratePerSecond rate: Double, start: Int64, end: Int64) {
        self.start = start
        self.end = end
        self.interval = 1e9 / rate
    }

    /// How many bids have fallen due by `now` and were not issued yet; marks them issued.
    mutating func takeDue(at now: Int64) -> Int {
        let horizon = min(now, end - 1)
        guard horizon >= start else { return 0 }
        let dueTotal = Int(Double(horizon - start) / interval) + 1
        let due = max(0, dueTotal - issued)
        issued += due
        return due
    }

    var isFinished: Bool {
        Double(issued) * interval >= Double(end - start)
    }

    /// When the next bid falls due.
    var nextDueTime: Int64 {
        start + Int64((Double(issued) * interval).rounded(.up))
    }
}
