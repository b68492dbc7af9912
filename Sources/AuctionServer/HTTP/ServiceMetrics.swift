import AuctionCore
import EngineIO
import Foundation
import NIOConcurrencyHelpers
import Prometheus
import RedisClient
import SocketIO

/// Every metric family of `GET /metrics`, present from the first scrape (names after the
/// Prometheus conventions; listed in the README). Counts kept by the libraries (Engine.IO,
/// Redis, the pool) and state (sockets, process) are read at scrape time; requests and bids
/// are counted as they happen.
final class ServiceMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// Set once the server exists (it is built after the metrics its parts report to).
    private let io = NIOLockedValueBox<SocketIOServer?>(nil)
    private let database: Database
    private let redis: RedisClient?
    /// Totals already added to the counters fed at scrape time, by counter name and labels.
    private let reported = NIOLockedValueBox<[String: Double]>([:])

    /// Fine between 50 and 250 ms, where a bid's p99 lives under load.
    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(75), .milliseconds(100), .milliseconds(150), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(2.5), .seconds(5),
    ]
    static let bidCodes = ["accepted"] + BidRejection.codes

    init(registry: PrometheusCollectorRegistry, database: Database, redis: RedisClient?) {
        self.registry = registry
        self.database = database
        self.redis = redis
        for code in Self.bidCodes { _ = bidCounter(code) }
        _ = bidLatency
        _ = bidTransaction
        collect()
    }

    func observe(_ server: SocketIOServer) {
        io.withLockedValue { $0 = server }
        collect()
    }

    // MARK: Counted as they happen

    func bidCounter(_ result: String) -> Counter {
        registry.makeCounter(descriptor: Self.name("auction_bids", "total", "Bids answered, by result (accepted, or the refusal code)."), labels: [("result", result)])
    }

    /// From the bid's arrival to its answer.
    var bidLatency: DurationHistogram {
        registry.makeDurationHistogram(descriptor: Self.name("auction_bid_duration", "seconds", "Bids from arrival to answer."), buckets: Self.latencyBuckets)
    }

    /// One batch's transaction, lock to unlock.
    var bidTransaction: DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: Self.name("auction_bid_transaction_duration", "seconds", "PostgreSQL transactions of bid batches, lock to unlock."),
            buckets: Self.latencyBuckets
        )
    }

    /// Methods outside this list are counted as `other`: a label value per invented method would
    /// let any client grow the series without bound.
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func request(route: String, method: String, status: Int, duration: Duration) {
        let method = Self.methods.contains(method) ? method : "other"
        registry.makeCounter(
            descriptor: Self.name("http_requests", "total", "HTTP requests by route template, method and status."),
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("http_request_duration", "seconds", "HTTP request durations by route template."),
            labels: [("route", route)],
            buckets: Self.latencyBuckets
        ).record(duration)
    }

    // MARK: Read at scrape time

    /// Brings the families read from state up to date; called before each scrape.
    func collect() {
        collectProcess()
        let server = io.withLockedValue { $0 }
        collectSockets(server)
        let engine = server?.engine.statistics ?? EngineStatistics()
        total("socketio_sessions_opened_total", "Engine.IO sessions opened (handshakes accepted).", [], engine.sessionsOpened)
        total("socketio_upgrades_total", "Polling sessions upgraded to WebSocket.", [], engine.upgrades)
        total("socketio_messages_received_total", "Engine.IO messages (Socket.IO packets) received.", [], engine.messagesReceived)
        total("socketio_messages_sent_total", "Engine.IO messages (Socket.IO packets) sent.", [], engine.messagesSent)
        for (reason, count) in engine.refusals {
            total("socketio_handshakes_refused_total", "Handshakes and session requests refused, by reason.", [("reason", reason.rawValue)], count)
        }
        gauge("postgres_pool_connections_in_use", "PostgreSQL connections leased now.", Double(database.inUse.load(ordering: .relaxed)))
        gauge("postgres_pool_waiting", "Callers waiting for a PostgreSQL connection.", Double(database.waiting.load(ordering: .relaxed)))
        gauge("redis_connected", "1 when both Redis connections are up (0 without Redis).", redis?.isHealthy == true ? 1 : 0)
        let stats = redis?.statistics
        total("redis_reconnects_total", "Redis connections re-established after a loss.", [], stats?.reconnects.load(ordering: .relaxed) ?? 0)
        total("redis_publishes_total", "Messages published to Redis (cluster adapter and sign-outs).", [], stats?.published.load(ordering: .relaxed) ?? 0)
        total("redis_publish_failures_total", "Publishes Redis did not accept.", [], stats?.publishFailures.load(ordering: .relaxed) ?? 0)
        total("redis_messages_received_total", "Pub/sub messages received from Redis.", [], stats?.messagesReceived.load(ordering: .relaxed) ?? 0)
    }

    private func collectSockets(_ server: SocketIOServer?) {
        var counts: [String: [EngineTransport: Int]] = [:]
        for namespace in server?.allNamespaces ?? [] {
            var byTransport: [EngineTransport: Int] = [.polling: 0, .websocket: 0]
            for socket in namespace.localSockets {
                if let transport = socket.transport { byTransport[transport, default: 0] += 1 }
            }
            counts[namespace.name] = byTransport
        }
        if counts["/"] == nil { counts["/"] = [.polling: 0, .websocket: 0] }
        for (namespace, byTransport) in counts {
            for (transport, count) in byTransport {
                registry.makeGauge(
                    descriptor: Self.name("socketio_connected_sockets", "", "Connected Socket.IO sockets, by namespace and transport."),
                    labels: [("namespace", namespace), ("transport", transport.rawValue)]
                ).set(Double(count))
            }
        }
    }

    private func collectProcess() {
        let process = ProcessFigures.read()
        total("process_cpu_seconds_total", "User and system CPU time of the process.", [], process.cpuSeconds)
        gauge("process_resident_memory_bytes", "Resident memory of the process.", process.residentBytes)
        gauge("process_virtual_memory_bytes", "Virtual memory of the process.", process.virtualBytes)
        gauge("process_open_fds", "Open file descriptors.", process.openDescriptors)
        gauge("process_max_fds", "The process's limit of open file descriptors.", process.maximumDescriptors)
        gauge("process_start_time_seconds", "Start time of the process, seconds since the Unix epoch.", process.startTime)
    }

    private func gauge(_ name: String, _ help: String, _ value: Double) {
        registry.makeGauge(descriptor: Self.name(name, "", help), labels: []).set(value)
    }

    /// A counter fed from a running total elsewhere: adds what is new since the last scrape.
    private func total(_ name: String, _ help: String, _ labels: [(String, String)], _ value: some BinaryInteger) {
        total(name, help, labels, Double(value))
    }

    private func total(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let delta = reported.withLockedValue { reported -> Double in
            let delta = max(value - (reported[key] ?? 0), 0)
            reported[key] = max(value, reported[key] ?? 0)
            return delta
        }
        let counter = registry.makeCounter(descriptor: Self.name(String(name.dropLast("_total".count)), "total", help), labels: labels)
        if delta > 0 { counter.increment(by: delta) }
    }

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: metric, unitName: unit, helpText: help)
    }
}

/// The process's own figures, from `/proc/self` (Linux).
struct ProcessFigures {
    var cpuSeconds = 0.0
    var residentBytes = 0.0
    var virtualBytes = 0.0
    var openDescriptors = 0.0
    var maximumDescriptors = 0.0
    var startTime = 0.0

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        // Fields after the command name, which is in parentheses and may hold spaces.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let end = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            // fields[0] is the state (field 3): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
            func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
            if fields.count >= 22 {
                figures.cpuSeconds = (field(14) + field(15)) / ticks
                figures.virtualBytes = field(23)
                figures.residentBytes = field(24) * pageSize
                figures.startTime = bootTime() + field(22) / ticks
            }
        }
        figures.openDescriptors = Double((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { figures.maximumDescriptors = Double(limit.rlim_cur) }
        return figures
    }

    private static func bootTime() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst("btime ".count)) ?? 0
        }
        return 0
    }
}
