import NIOCore

/// Monotonic nanoseconds since the start of a run, shared by every client in the process, so a
/// timestamp written into a bid by one socket can be subtracted from the arrival time at another.
/// Relative to the run so the value stays far below 2^53 and survives a trip through a JSON number.
struct BenchClock: Sendable {
    let origin: NIODeadline

    init() {
        origin = .now()
    }

    func now() -> Int64 {
        Int64(NIODeadline.now().uptimeNanoseconds) - Int64(origin.uptimeNanoseconds)
    }

    func seconds(since start: Int64) -> Double {
        Double(now() - start) / 1e9
    }
}
