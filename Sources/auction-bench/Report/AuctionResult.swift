/// The JSON result of an auction run.
struct AuctionResult: Codable, Sendable {
    struct Parameters: Codable, Sendable {
        var urls: [String]
        var users: Int
        var tabs: Int
        /// Nil for `--rate unlimited` (closed loop: each tab bids again as soon as it is answered).
        var offeredRatePerSecond: Double?
        var durationSeconds: Double
        var itemId: String
        /// False when `--item` named an existing auction.
        var itemCreated: Bool
        var loginSources: Int
        var threads: Int
        var parallel: Int
        var clientFileDescriptorLimit: UInt64
    }

    struct Setup: Codable, Sendable {
        var registered: Int
        var alreadyRegistered: Int
        /// 429 answers to `POST /auth/login` that were waited out.
        var loginsRateLimited: Int
        var seconds: Double
    }

    struct Connections: Codable, Sendable {
        var requested: Int
        var connected: Int
        var failed: Int
        var failures: [String: Int]
        var setupSeconds: Double
        var setupPerSecond: Double
        var dropped: Int
        var protocolViolations: Int
    }

    struct Bids: Codable, Sendable {
        var windowSeconds: Double
        var sent: Int
        var acked: Int
        var unacked: Int
        var accepted: Int
        /// Refusals by `error.code`.
        var rejected: [String: Int]
        var sentPerSecond: Double
        /// Rates over the bidding window only; late acks during the drain are in the totals.
        var acceptedPerSecond: Double
        var rejectedPerSecond: [String: Double]
        var drainSeconds: Double
        /// `auction:extended`, `auction:closed`, `auction:error` received, summed over tabs.
        var auctionEvents: [String: Int]
        var unrecognized: Int
    }

    struct Latency: Codable, Sendable {
        /// Emit to ack, every answer.
        var ack: LatencySummary
        /// Emit to ack, accepted bids only.
        var acceptedAck: LatencySummary
        /// Emit of an accepted bid to its `bid` event at each tab, the bidder's own included.
        var delivery: LatencySummary
    }

    struct Sample: Codable, Sendable {
        var second: Double
        var open: Int
        var sentPerSecond: Double
        var acceptedPerSecond: Double
        var rejectedPerSecond: Double
        var deliveredPerSecond: Double
        var ackP99Ms: Double?
    }

    var scenario = "auction"
    var startedAt: String
    var clockNote = "latencies use one monotonic clock shared by all tabs of the load generator; bids are matched to their send time by the id in their ack"
    var parameters: Parameters
    var setup: Setup
    var connections: Connections
    var bids: Bids
    var latency: Latency
    var delivery: DeliveryAudit.Findings
    var timeline: [Sample]
}
