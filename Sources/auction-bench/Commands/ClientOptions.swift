import ArgumentParser
import NIOCore

/// Options every scenario shares: how clients are opened and where results go.
struct ClientOptions: ParsableArguments {
    @Option(help: "Client handshakes (TCP + WebSocket upgrade + Socket.IO CONNECT) in flight at once.")
    var parallel = 200

    @Option(help: "Event-loop threads of the load generator (default: number of cores).")
    var threads = System.coreCount

    @Option(help: "Seconds a client may take from TCP connect to Socket.IO connected.")
    var handshakeTimeout = 15.0

    @Option(help: "Path of the JSON result (default .data/bench/<scenario>-<timestamp>.json).")
    var json: String?

    func validate() throws {
        guard parallel > 0 else { throw ValidationError("--parallel must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
        guard handshakeTimeout > 0 else { throw ValidationError("--handshake-timeout must be positive") }
    }

    var handshakeTimeAmount: TimeAmount { .nanoseconds(Int64(handshakeTimeout * 1e9)) }
}
