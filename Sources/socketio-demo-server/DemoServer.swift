import ArgumentParser
import EngineIO
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RedisClient
import ServiceLifecycle
import SocketIO
import SocketIORedis

/// A small application on the protocol library: rooms, broadcasts, acks both ways, binary,
/// middleware and server-side disconnects. The outside-in test suite drives it.
@main
struct DemoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "socketio-demo-server")

    @Option(help: "Port to listen on.") var port = 3000
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(name: .customLong("ping-interval"), help: "Milliseconds.") var pingInterval = 25_000
    @Option(name: .customLong("ping-timeout"), help: "Milliseconds.") var pingTimeout = 20_000
    @Option(name: .customLong("max-payload"), help: "Bytes.") var maxPayload = 1_000_000
    @Option(help: "Redis URL: share rooms and broadcasts with other instances through the Redis adapter.") var redis: String?
    @Option(help: "Name of this instance, reported by cluster events.") var name = "demo"
    @Option(name: .customLong("redis-cluster"), help: "A Redis Cluster's nodes (host:port,…) instead of --redis, which then only lends its user, password and TLS.") var redisCluster: String?
    @Option(help: "The Redis adapter: pubsub (classic), sharded or streams (Redis Streams).") var adapter: RedisAdapterKind = .pubsub
    @Flag(help: "Connection state recovery (in-process or streams adapter): 2 minutes, middlewares skipped.") var recovery = false
    @Option(name: .customLong("recovery-seconds"), help: "With --recovery: how long a dropped socket can come back.") var recoverySeconds = 120
    @Flag(name: .customLong("concurrent-handlers"), help: "Run a connection's event handlers side by side (Node's interleaving) instead of one at a time.") var concurrentHandlers = false
    @Flag(name: .customLong("cleanup-empty-child-namespaces"), help: "Remove a namespace made on demand when its last socket leaves.") var cleanupEmptyChildNamespaces = false
    @Flag(help: "Set the Engine.IO io cookie (Node's defaults: Path=/, HttpOnly, SameSite=Lax).") var cookie = false
    @Flag(name: .customLong("per-message-deflate"), help: "permessage-deflate (RFC 7692) for WebSocket clients that offer it, from 1 KiB.") var perMessageDeflate = false
    @Option(help: "The packet format: default, or msgpack (socket.io-msgpack-parser).") var parser: SocketIOParserName = .default
    @Option(name: .customLong("http-compression-threshold"), help: "Bytes from which polling answers are compressed (gzip or deflate, as the client accepts).") var httpCompressionThreshold = 1024
    @Flag(name: .customLong("no-http-compression"), help: "Never compress polling answers.") var noHTTPCompression = false
    @Option(name: .customLong("upgrade-timeout"), help: "Milliseconds a WebSocket has to complete an upgrade.") var upgradeTimeout = 10_000
    @Option(name: .customLong("write-coalescing-ms"), help: "Milliseconds between writes to one WebSocket; what is sent meanwhile leaves together.") var writeCoalescingMs = 2
    @Option(name: .customLong("write-joining"), help: "What is sent while a batch waits for its window: broadcasts (joins it when the batch or it is a broadcast's), waiting (always joins it) or next-window.") var writeJoining: WebSocketWriteJoining = .withBroadcasts
    @Option(name: .customLong("cors-origin"), help: "An allowed origin (repeatable; credentials allowed); without any, every origin.") var corsOrigins: [String] = []
    @Option(name: .customLong("cors-max-age"), help: "Seconds a preflight may be cached.") var corsMaxAge: Int?
    @Option(name: .customLong("cors-allowed-header"), help: "A header a preflight allows (repeatable); without any, those asked for.") var corsAllowedHeaders: [String] = []
    @Option(name: .customLong("cors-exposed-header"), help: "A header exposed to scripts (repeatable).") var corsExposedHeaders: [String] = []

    func run() async throws {
        var logger = Logger(label: "demo")
        logger.logLevel = .info
        var configuration = SocketIOConfiguration(
            engine: EngineConfiguration(
                path: "/socket.io/",
                pingInterval: .milliseconds(pingInterval),
                pingTimeout: .milliseconds(pingTimeout),
                maxPayload: maxPayload,
                cors: CORSPolicy(
                    origins: corsOrigins.isEmpty ? .any : .list(corsOrigins),
                    credentials: !corsOrigins.isEmpty,
                    allowedHeaders: corsAllowedHeaders.isEmpty ? nil : corsAllowedHeaders,
                    exposedHeaders: corsExposedHeaders,
                    maxAge: corsMaxAge.map { .seconds($0) }
                )
            ),
            eventHandling: concurrentHandlers ? .concurrent : .serial
        )
        configuration.cleanupEmptyChildNamespaces = cleanupEmptyChildNamespaces
        configuration.engine.upgradeTimeout = .milliseconds(upgradeTimeout)
        configuration.engine.webSocketWriteCoalescing = .milliseconds(writeCoalescingMs)
        configuration.engine.webSocketWriteJoining = writeJoining
        configuration.engine.httpCompression = noHTTPCompression ? nil : HTTPCompressionOptions(threshold: httpCompressionThreshold)
        if cookie { configuration.engine.cookie = EngineCookie() }
        if perMessageDeflate { configuration.engine.perMessageDeflate = PerMessageDeflateOptions() }
        configuration.parser = parser.parser
        let connectionErrors = NIOLockedValueBox<[JSONValue]>([])
        configuration.engine.onConnectionError = { failure in
            let entry: JSONValue = ["code": .number(Double(failure.error.code)), "message": .string(failure.error.message), "url": .string(failure.request.target)]
            connectionErrors.withLockedValue { $0.append(entry) }
        }
        if recovery {
            // A socket whose data names a user comes back only to a handshake whose auth names the same.
            configuration.connectionStateRecovery = ConnectionStateRecovery(
                maxDisconnectionDuration: .seconds(recoverySeconds),
                shouldRestore: { handshake, kept in kept.data["user"] == nil || kept.data["user"] == handshake.auth["user"] }
            )
        }
        var services: [any Service] = []
        let redisClient = try RedisClient.fromCommandLine(redis: redis, cluster: redisCluster, logger: logger)
        if let client = redisClient {
            configuration.adapterFactory = adapter.factory(redis: client, logger: logger)
            services.append(client)
        }
        let io = SocketIOServer(configuration: configuration, logger: logger)
        Self.mountMain(io.of("/"))
        Self.mountEngine(io.of("/"), connectionErrors: connectionErrors)
        Self.mountCluster(io.of("/"), name: name, redis: redisClient)
        io.of("/custom").onConnection { socket in
            socket.emit("welcome", ["nsp": "/custom"])
            socket.on("echo") { event in event.ack?(args: event.args) }
        }
        ParityNamespace.mount(io.of("/parity"))
        try DynamicNamespaces.mount(io)
        let admin = io.of("/admin")
        admin.use { socket in
            guard socket.handshake.auth["token"] == "secret" else {
                throw ConnectionRefusal("not authorized", data: ["code": "BAD_TOKEN"])
            }
        }
        admin.onConnection { socket in socket.emit("welcome", ["nsp": "/admin"]) }

        let app = Application(
            router: Router(),
            server: .engineIO(io.engine),
            configuration: .init(address: .hostname(host, port: port)),
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
    }

    static func sortedRooms(_ socket: Socket) -> JSONValue {
        .array(socket.rooms.sorted().map { .string($0) })
    }

    static func mountMain(_ namespace: Namespace) {
        namespace.onConnection { socket in
            if let room = socket.handshake.query["room"] { socket.join(room) }
            socket.emit("welcome", ["sid": .string(socket.id), "auth": socket.handshake.auth])

            socket.on("echo") { event in
                if let ack = event.ack { ack(args: event.args) } else { socket.emit("echo", args: event.args) }
            }
            socket.on("join") { event in
                if let room = event.args.first?.stringValue { socket.join(room) }
                event.ack?(sortedRooms(socket))
            }
            // Whether the handler runs on its connection's event loop, before and after it awaits.
            socket.on("on-socket-loop") { event in
                let before = socket.conn.eventLoop.inEventLoop
                try? await Task.sleep(for: .milliseconds(5))
                event.ack?(.array([.bool(before), .bool(socket.conn.eventLoop.inEventLoop)]))
            }
            socket.on("leave") { event in
                if let room = event.args.first?.stringValue { socket.leave(room) }
                event.ack?(sortedRooms(socket))
            }
            socket.on("rooms") { event in event.ack?(sortedRooms(socket)) }
            // Connection state recovery: whether this socket came back, its data, and an event to
            // itself (recoverable with --recovery, like a broadcast).
            socket.on("recovered") { event in event.ack?(["recovered": .bool(socket.recovered), "data": socket.data]) }
            socket.on("emit-self") { event in
                socket.emit("self", args: event.args)
                event.ack?("ok")
            }
            socket.on("broadcast") { event in
                guard let request = event.args.first, let room = request["room"]?.stringValue,
                    let name = request["event"]?.stringValue
                else { return event.ack?("bad request") ?? () }
                var target = namespace.to(room)
                if let except = request["except"]?.stringValue { target = target.except(except) }
                target.emit(name, request["data"] ?? .null)
                event.ack?("ok")
            }
            socket.on("broadcast-others") { event in
                guard let request = event.args.first, let room = request["room"]?.stringValue,
                    let name = request["event"]?.stringValue
                else { return event.ack?("bad request") ?? () }
                socket.to(room).emit(name, request["data"] ?? .null)
                event.ack?("ok")
            }
            socket.on("broadcast-ack") { event in
                guard let request = event.args.first, let room = request["room"]?.stringValue,
                    let name = request["event"]?.stringValue
                else { return event.ack?("bad request") ?? () }
                let acks = await namespace.to(room).timeout(.seconds(2)).collectAcks(name, args: [request["data"] ?? .null])
                event.ack?(["responses": .array(acks.responses), "error": acks.complete ? .null : "timeout"])
            }
            socket.on("binary") { event in
                event.ack?(.binary(ByteBuffer(bytes: [1, 2, 3, 4])))
            }
            socket.on("binary-echo") { event in
                guard case .binary(let bytes)? = event.args.first else { return event.ack?(["error": "expected bytes"]) ?? () }
                event.ack?(["size": .number(Double(bytes.readableBytes)), "data": .binary(bytes)])
            }
            socket.on("ask") { event in
                do {
                    let reply = try await socket.emitWithAck("question", args: [event.args.first ?? .null], timeout: .seconds(2))
                    event.ack?(["answer": reply.first ?? .null])
                } catch {
                    event.ack?(["error": "timeout"])
                }
            }
            socket.on("disconnect-me") { _ in socket.disconnect() }
            socket.on("close-me") { _ in socket.disconnect(close: true) }
        }
    }

    /// The Engine.IO connection under a socket, and what the engine refused.
    static func mountEngine(_ namespace: Namespace, connectionErrors: NIOLockedValueBox<[JSONValue]>) {
        namespace.onConnection { socket in
            socket.conn.onUpgrade { transport in socket.emit("upgraded", .string(transport.rawValue)) }
            socket.on("conn") { event in
                event.ack?(["transport": socket.conn.transport.map { .string($0.rawValue) } ?? .null, "remoteAddress": socket.conn.remoteAddress.map { .string($0) } ?? .null])
            }
            // The errors reported so far whose URL holds the marker the test put in it.
            socket.on("connection-errors") { event in
                let marker = event.args.first?.stringValue ?? ""
                event.ack?(.array(connectionErrors.withLockedValue { $0 }.filter { $0["url"]?.stringValue?.contains(marker) == true }))
            }
        }
    }

    /// Cluster-wide operations, for the tests of the Redis adapter.
    static func mountCluster(_ namespace: Namespace, name: String, redis: RedisClient?) {
        namespace.onServerSideEmit("hello") { args in
            namespace.local.emit("server-side", ["from": "remote", "args": .array(args)])
            return .string("hello from \(name)")
        }
        namespace.onConnection { socket in
            socket.on("fetch-sockets") { event in
                let room = event.args.first?.stringValue
                let sockets = await (room.map { namespace.to($0) } ?? namespace.broadcastOperator).fetchSockets()
                let list = sockets.sorted { $0.id < $1.id }.map { descriptor -> JSONValue in
                    ["id": .string(descriptor.id), "rooms": .array(descriptor.rooms.sorted().map { .string($0) }), "data": descriptor.data]
                }
                event.ack?(.array(list))
            }
            // How many pub/sub messages this instance's Redis client has received so far.
            socket.on("redis-received") { event in
                event.ack?(.number(Double(redis?.statistics.messagesReceived.load(ordering: .relaxed) ?? 0)))
            }
            socket.on("set-data") { event in
                socket.data = event.args.first ?? .null
                event.ack?("ok")
            }
            socket.on("server-side-emit") { event in
                await namespace.serverSideEmit("hello", args: event.args)
                event.ack?("ok")
            }
            socket.on("server-side-emit-ack") { event in
                let answers = await namespace.serverSideCollectAcks("hello", args: event.args).responses
                event.ack?(.array(answers.sorted { $0.jsonText < $1.jsonText }))
            }
            // Node's form: the answers, or a timeout carrying those that came.
            socket.on("server-side-emit-ack-strict") { event in
                do throws(AckTimeout) {
                    let answers = try await namespace.serverSideEmitWithAck("hello", args: event.args)
                    event.ack?(["answers": .array(answers)])
                } catch {
                    event.ack?(["error": "timeout", "answers": .array(error.responses)])
                }
            }
            socket.on("remote-join") { event in
                guard let request = event.args.first, let target = request["target"]?.stringValue, let room = request["room"]?.stringValue else { return }
                await namespace.to(target).socketsJoin([room])
                event.ack?("ok")
            }
            socket.on("remote-leave") { event in
                guard let request = event.args.first, let target = request["target"]?.stringValue, let room = request["room"]?.stringValue else { return }
                await namespace.to(target).socketsLeave([room])
                event.ack?("ok")
            }
            socket.on("remote-disconnect") { event in
                guard let target = event.args.first?["target"]?.stringValue else { return }
                event.ack?("ok")
                await namespace.to(target).disconnectSockets()
            }
            // Acts on one socket found by fetchSockets, wherever it is connected:
            // {target, action: describe | emit | join | leave | disconnect | ask, ...}.
            socket.on("remote-socket") { event in
                let request = event.args.first ?? .null
                guard let target = request["target"]?.stringValue, let action = request["action"]?.stringValue else { return }
                guard let remote = await namespace.to(target).fetchSockets().first(where: { $0.id == target }) else {
                    return event.ack?(["error": "not found"]) ?? ()
                }
                switch action {
                case "describe":
                    let headers = remote.descriptor.handshakeHeaders.sorted { $0.key < $1.key }.map { JSONMember(key: $0.key, value: .string($0.value)) }
                    event.ack?(["id": .string(remote.id), "rooms": .array(remote.rooms.sorted().map { .string($0) }), "headers": .object(headers)])
                case "emit":
                    remote.emit(request["event"]?.stringValue ?? "remote", request["data"] ?? .null)
                    event.ack?("ok")
                case "join":
                    await remote.join(request["room"]?.stringValue ?? "")
                    event.ack?("ok")
                case "leave":
                    await remote.leave(request["room"]?.stringValue ?? "")
                    event.ack?("ok")
                case "disconnect":
                    event.ack?("ok")
                    await remote.disconnect(close: request["close"] == true)
                case "ask":
                    let timeout = Duration.milliseconds(Int64(request["timeoutMs"]?.numberValue ?? 2000))
                    do throws(AckTimeout) {
                        let answers = try await remote.timeout(timeout).emitWithAck("question", args: [request["question"] ?? .null])
                        event.ack?(["responses": .array(answers)])
                    } catch {
                        event.ack?(["error": "timeout", "responses": .array(error.responses)])
                    }
                default:
                    event.ack?(["error": "unknown action"])
                }
            }
            socket.on("server-count") { event in
                event.ack?(.number(Double(await namespace.adapter.serverCount())))
            }
            socket.on("whoami") { event in event.ack?(.string(name)) }
        }
    }
}

extension RedisAdapterKind: ExpressibleByArgument {}
extension SocketIOParserName: ExpressibleByArgument {}
extension WebSocketWriteJoining: ExpressibleByArgument {}
