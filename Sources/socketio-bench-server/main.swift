import Foundation
import ArgumentParser
import EngineIO
import Hummingbird
import Logging
import RedisClient
import ServiceLifecycle
import SocketIO
import SocketIORedis

/// The minimal benchmark application, the same one every peer server is given: join the room
/// named by the handshake query `room`; on `bid` (an object) ack `{ok: true}` and broadcast
/// `bid` with the same payload to that room, sender included.
@main
struct BenchServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "socketio-bench-server")

    @Option(help: "Port to listen on.") var port = 3000
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Redis URL; instances then share rooms through the Redis adapter.") var redis: String?
    @Option(name: .customLong("redis-cluster"), help: "A Redis Cluster's nodes (host:port,…) instead of --redis, which then only lends its user, password and TLS.") var redisCluster: String?
    @Option(help: "The Redis adapter: pubsub (classic), sharded or streams (Redis Streams).") var adapter: RedisAdapterKind = .pubsub
    @Flag(help: "Connection state recovery (in-process or streams adapter): 2 minutes, middlewares skipped.") var recovery = false
    @Flag(help: "Set the Engine.IO io cookie (Node's defaults: Path=/, HttpOnly, SameSite=Lax).") var cookie = false
    @Flag(name: .customLong("per-message-deflate"), help: "permessage-deflate (RFC 7692) for WebSocket clients that offer it, from 1 KiB.") var perMessageDeflate = false
    @Option(help: "The packet format: default, or msgpack (socket.io-msgpack-parser).") var parser: SocketIOParserName = .default
    @Option(name: .customLong("write-coalescing-ms"), help: "Writes to one WebSocket at least this many milliseconds apart (default 2; 0 writes at once).") var writeCoalescingMs: Double?
    @Option(name: .customLong("write-joining"), help: "What is sent while a batch waits for its window: broadcasts (joins it when the batch or it is a broadcast's), waiting (always joins it) or next-window.") var writeJoining: WebSocketWriteJoining = .withBroadcasts

    func validate() throws {
        if let writeCoalescingMs, !(0...1000).contains(writeCoalescingMs) {
            throw ValidationError("--write-coalescing-ms must be between 0 and 1000")
        }
    }

    /// Bad command lines exit with status 2 and the usage, as the contract says (ArgumentParser's
    /// own status for them is 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        var configuration = SocketIOConfiguration(engine: EngineConfiguration(path: "/socket.io/", cors: .anyOrigin))
        if recovery { configuration.connectionStateRecovery = ConnectionStateRecovery() }
        if cookie { configuration.engine.cookie = EngineCookie() }
        if perMessageDeflate { configuration.engine.perMessageDeflate = PerMessageDeflateOptions() }
        configuration.parser = parser.parser
        if let writeCoalescingMs { configuration.engine.webSocketWriteCoalescing = .nanoseconds(Int64(writeCoalescingMs * 1e6)) }
        configuration.engine.webSocketWriteJoining = writeJoining
        var services: [any Service] = []
        let redisClient = try RedisClient.fromCommandLine(redis: redis, cluster: redisCluster, logger: logger)
        if let client = redisClient {
            configuration.adapterFactory = adapter.factory(redis: client, logger: logger)
            services.append(client)
        }
        let io = SocketIOServer(configuration: configuration, logger: logger)
        let main = io.of("/")
        main.onConnection { socket in
            let room = socket.handshake.query["room"]
            if let room { socket.join(room) }
            socket.on("bid") { event in
                guard let payload = event.args.first, payload.isObject else {
                    event.ack?(["ok": false])
                    return
                }
                event.ack?(["ok": true])
                if let room { main.to(room).emit("bid", payload) }
            }
        }
        let app = Application(
            router: Router(),
            server: .engineIO(io.engine),
            configuration: .init(address: .hostname(host, port: port), backlog: 4096),
            logger: logger
        )
        // Services shut down in reverse order: Socket.IO closes its sessions (answering held
        // polls) before the HTTP server drains.
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) } + [.init(service: app), .init(service: io)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        // For the cluster benchmark: what this instance's Redis client received and sent.
        if let stats = redisClient?.statistics {
            FileHandle.standardError.write(Data("redis: received \(stats.messagesReceived.load(ordering: .relaxed)) messages, published \(stats.published.load(ordering: .relaxed))\n".utf8))
        }
    }
}

extension RedisAdapterKind: ExpressibleByArgument {}
extension SocketIOParserName: ExpressibleByArgument {}
extension WebSocketWriteJoining: ExpressibleByArgument {}
