/// The JSON result of a fanout run.
struct FanoutResult: Codable, Sendable {
    struct Parameters: Codable, Sendable {
        var urls: [String]
        var sockets: Int
        var emitters: Int
        var offeredRatePerSecond: Double
        var durationSeconds: Double
        var room: String
        var threads: Int
        var parallel: Int
        var clientFileDescriptorLimit: UInt64
    }

    struct Connections: Codable, Sendable {
        var requested: Int
        var connected: Int
        var failed: Int
        var failures: [String: Int]
        var setupSeconds: Double
        var setupPerSecond: Double
        /// Clients the server closed during the run.
        var dropped: Int
        var protocolViolations: Int
    }

    struct Traffic: Codable, Sendable {
        var windowSeconds: Double
        var sent: Int
        var acked: Int
        var rejectedAcks: Int
        var unacked: Int
        var delivered: Int
        /// `sent` times the connected sockets: every socket of the room, sender included, should get every bid.
        var expectedDeliveries: Int
        var missingDeliveries: Int
        var gaps: Int
        var outOfOrder: Int
        var unrecognized: Int
        var sentPerSecond: Double
        /// Rates over the emission window only; late arrivals during the drain are in the totals.
        var ackedPerSecond: Double
        var deliveredPerSecond: Double
        var drainSeconds: Double
    }

    struct Latency: Codable, Sendable {
        var ack: LatencySummary
        var delivery: LatencySummary
    }

    struct Sample: Codable, Sendable {
        var second: Double
        var open: Int
        var sentPerSecond: Double
        var ackedPerSecond: Double
        var deliveredPerSecond: Double
        /// Nil when nothing arrived in that second.
        var ackP99Ms: Double?
        var deliveryP99Ms: Double?
    }

    var scenario = "fanout"
    var startedAt: String
    var clockNote = "latencies use one monotonic clock shared by all clients of the load generator; sentAt in payloads is nanoseconds since run start"
    var parameters: Parameters
    var connections: Connections
    var traffic: Traffic
    var latency: Latency
    var timeline: [Sample]
}
