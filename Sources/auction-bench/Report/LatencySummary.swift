/// The percentiles of a latency histogram in milliseconds, as written to result files.
struct LatencySummary: Codable, Sendable {
    var count: UInt64
    var meanMs: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double

    init(_ histogram: LatencyHistogram) {
        func ms(_ nanoseconds: UInt64) -> Double { (Double(nanoseconds) / 1e3).rounded() / 1e3 }
        count = histogram.count
        meanMs = ms(UInt64(histogram.mean))
        p50Ms = ms(histogram.percentile(50))
        p90Ms = ms(histogram.percentile(90))
        p99Ms = ms(histogram.percentile(99))
        p999Ms = ms(histogram.percentile(99.9))
        maxMs = ms(histogram.maximum)
    }

    /// One line for the human summary.
    var line: String {
        guard count > 0 else { return "no samples" }
        return "p50 \(Self.format(p50Ms))  p90 \(Self.format(p90Ms))  p99 \(Self.format(p99Ms))  p99.9 \(Self.format(p999Ms))  max \(Self.format(maxMs))  (n=\(count))"
    }

    static func format(_ milliseconds: Double) -> String {
        if milliseconds < 10 { return decimal(milliseconds, places: 2) + " ms" }
        if milliseconds < 1000 { return decimal(milliseconds, places: 1) + " ms" }
        return decimal(milliseconds / 1000, places: 2) + " s"
    }
}

/// Fixed-point text without Foundation's locale-dependent formatters.
func decimal(_ value: Double, places: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    var text = (value < 0 && scaled > 0 ? "-" : "") + String(whole)
    if places > 0 {
        let fraction = String(Int(scaled) - whole * Int(scale))
        text += "." + String(repeating: "0", count: places - fraction.count) + fraction
    }
    return text
}
