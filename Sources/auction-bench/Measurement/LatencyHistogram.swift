/// Log-linear histogram of nanosecond latencies in the manner of HdrHistogram: each power of two
/// is split into 128 linear sub-buckets, so any recorded value is known to within 0.8 % while the
/// memory stays a fixed 7,424 counters however many samples arrive.
struct LatencyHistogram: Sendable {
    private static let subBucketBits = 7
    private static let subBucketCount = 1 << subBucketBits
    private static let bucketCount = subBucketCount + (64 - subBucketBits) * subBucketCount

    private var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var count: UInt64 = 0
    private(set) var maximum: UInt64 = 0
    private(set) var minimum: UInt64 = .max
    private var sum: Double = 0

    var mean: Double { count == 0 ? 0 : sum / Double(count) }

    mutating func record(_ nanoseconds: Int64) {
        // A negative latency can only come from a foreign clock in the payload; count it as zero.
        let value = UInt64(max(0, nanoseconds))
        counts[Self.index(of: value)] += 1
        count += 1
        sum += Double(value)
        maximum = max(maximum, value)
        minimum = min(minimum, value)
    }

    mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for index in counts.indices where other.counts[index] != 0 { counts[index] += other.counts[index] }
        count += other.count
        sum += other.sum
        maximum = max(maximum, other.maximum)
        minimum = min(minimum, other.minimum)
    }

    /// The samples recorded here but not in `earlier`, an older copy of this histogram; the
    /// extremes are not recoverable, so the bucket bounds stand in for them.
    func since(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var delta = LatencyHistogram()
        for index in counts.indices {
            let difference = counts[index] - earlier.counts[index]
            guard difference > 0 else { continue }
            delta.counts[index] = difference
            delta.count += difference
            delta.maximum = max(delta.maximum, Self.highestEquivalent(index))
            delta.minimum = min(delta.minimum, Self.lowestEquivalent(index))
        }
        delta.sum = sum - earlier.sum
        delta.maximum = min(delta.maximum, maximum)
        return delta
    }

    /// The value at or below which `percent` of the samples lie (HdrHistogram's convention:
    /// the highest value equivalent to the bucket's, capped at the true maximum).
    func percentile(_ percent: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, UInt64((percent / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for index in counts.indices where counts[index] != 0 {
            seen += counts[index]
            if seen >= rank { return min(Self.highestEquivalent(index), maximum) }
        }
        return maximum
    }

    private static func index(of value: UInt64) -> Int {
        if value < UInt64(subBucketCount) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        let shift = exponent - subBucketBits
        let subBucket = Int(value >> UInt64(shift)) - subBucketCount
        return subBucketCount + shift * subBucketCount + subBucket
    }

    private static func lowestEquivalent(_ index: Int) -> UInt64 {
        if index < subBucketCount { return UInt64(index) }
        let shift = (index - subBucketCount) / subBucketCount
        let subBucket = (index - subBucketCount) % subBucketCount
        return UInt64(subBucketCount + subBucket) << UInt64(shift)
    }

    private static func highestEquivalent(_ index: Int) -> UInt64 {
        if index < subBucketCount { return UInt64(index) }
        let shift = (index - subBucketCount) / subBucketCount
        return lowestEquivalent(index) + (UInt64(1) << UInt64(shift)) - 1
    }
}
