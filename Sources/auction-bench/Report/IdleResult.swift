/// The JSON result of an idle run.
struct IdleResult: Codable, Sendable {
    struct Parameters: Codable, Sendable {
        var url: String
        var connections: Int
        var room: String?
        var serverPID: Int32?
        var holdSeconds: Double
        var settleSeconds: Double
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
        /// Clients the server closed while they were held (heartbeats must keep them open).
        var dropped: Int
        var openAfterHold: Int
    }

    /// Resident memory of the server from `/proc/<pid>/status`; absent without `--pid`.
    struct ServerMemory: Codable, Sendable {
        var rssBeforeBytes: UInt64
        var rssConnectedBytes: UInt64
        var rssAfterHoldBytes: UInt64
        var rssAfterCloseBytes: UInt64?
        var bytesPerConnection: Double
    }

    var scenario = "idle"
    var startedAt: String
    var parameters: Parameters
    var connections: Connections
    var serverMemory: ServerMemory?
    var clientRSSBytes: UInt64?
}
