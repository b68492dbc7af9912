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

    /// What the clients received off the wire over the emission and drain.
    struct Wire: Codable, Sendable {
        var payloadBytes: Int
        var perMessageDeflate: Bool
        var bytesReceived: Int
        var bytesPerDelivery: Double?
    }

    /// Server CPU over the emission and drain (`/proc/<pid>/stat`), per delivery in that span.
    struct ServerCPU: Codable, Sendable {
        struct Process: Codable, Sendable {
            var pid: Int32
            var userSeconds: Double
            var systemSeconds: Double

            init(pid: Int32, cpu: ProcessCPU) {
                self.pid = pid
                self.userSeconds = cpu.userSeconds
                self.systemSeconds = cpu.systemSeconds
            }
        }

        var processes: [Process]
        var deliveries: Int
        var userSeconds: Double
        var systemSeconds: Double
        /// (user + system) of all the processes / deliveries, in microseconds.
        var microsecondsPerDelivery: Double?
        var userMicrosecondsPerDelivery: Double?
        var systemMicrosecondsPerDelivery: Double?

        init(processes: [Process], deliveries: Int) {
            self.processes = processes
            self.deliveries = deliveries
            userSeconds = processes.reduce(0) { $0 + $1.userSeconds }
            systemSeconds = processes.reduce(0) { $0 + $1.systemSeconds }
            let perDelivery = { (seconds: Double) in deliveries > 0 ? seconds * 1e6 / Double(deliveries) : nil }
            microsecondsPerDelivery = perDelivery(userSeconds + systemSeconds)
            userMicrosecondsPerDelivery = perDelivery(userSeconds)
            systemMicrosecondsPerDelivery = perDelivery(systemSeconds)
        }

        var line: String {
            guard let total = microsecondsPerDelivery, let user = userMicrosecondsPerDelivery, let system = systemMicrosecondsPerDelivery else {
                return "no deliveries"
            }
            return "\(decimal(total, places: 2)) µs per delivery (user \(decimal(user, places: 2)), system \(decimal(system, places: 2))) over \(processes.count) process\(processes.count == 1 ? "" : "es"), \(deliveries) deliveries"
        }
    }

    var scenario = "fanout"
    var startedAt: String
    var clockNote = "latencies use one monotonic clock shared by all clients of the load generator; sentAt in payloads is nanoseconds since run start"
    var parameters: Parameters
    var connections: Connections
    var traffic: Traffic
    var latency: Latency
    /// Nil in results written before it was measured.
    var wire: Wire?
    var serverCPU: ServerCPU?
    var timeline: [Sample]
}
