/// A pgbench run of `bench/pgbench-bid.sql` (the service's accepted-bid transaction alone),
/// written by `bench/service.sh` so `report` can set the database's own rate beside the service's.
struct PgbenchResult: Codable, Sendable {
    struct Latency: Codable, Sendable {
        var count: Int
        var meanMs: Double
        var p50Ms: Double
        var p90Ms: Double
        var p99Ms: Double
        var maxMs: Double
    }

    var scenario = "pgbench"
    var script: String
    var clients: Int
    var durationSeconds: Double
    /// `pgbench -R`: transactions scheduled at this rate, latency counted from the scheduled
    /// start (as auction-bench counts from the due time); nil when pgbench ran flat out.
    var targetRatePerSecond: Double?
    var transactions: Int
    var failedTransactions: Int
    /// Excluding connection set-up, as pgbench reports it.
    var tps: Double
    var latency: Latency
}
