import ArgumentParser
import EngineIO
import Hummingbird
import Logging
import ServiceLifecycle
import SocketIO

/// The protocol library configured as the reference servers of the official compliance suites.
@main
struct ComplianceServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "socketio-compliance-server",
        abstract: "Socket.IO (or, with --engine-io, plain Engine.IO) server for the protocol compliance suites."
    )

    @Option(help: "Port to listen on.") var port = 3000
    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Flag(name: .customLong("engine-io"), help: "Serve plain Engine.IO at /engine.io/, echoing every message.")
    var engineIO = false

    func run() async throws {
        var logger = Logger(label: "compliance")
        logger.logLevel = .info
        let engine: EngineServer
        var services: [any Service] = []
        if engineIO {
            engine = EngineServer(configuration: Self.engineConfiguration(path: "/engine.io/"), logger: logger)
            engine.onConnection { session in
                session.setHandlers(onMessage: { session.send($0) }, onClose: { _ in })
            }
        } else {
            let io = SocketIOServer(
                configuration: SocketIOConfiguration(engine: Self.engineConfiguration(path: "/socket.io/"), connectTimeout: .milliseconds(1000)),
                logger: logger
            )
            io.of("/").onConnection { socket in
                socket.emit("auth", socket.handshake.auth)
                socket.on("message") { event in socket.emit("message-back", args: event.args) }
                socket.on("message-with-ack") { event in event.ack?(args: event.args) }
            }
            io.of("/custom").onConnection { socket in
                socket.emit("auth", socket.handshake.auth)
            }
            engine = io.engine
            services.append(io)
        }
        let app = Application(
            router: Router(),
            server: .engineIO(engine),
            configuration: .init(address: .hostname(host, port: port)),
            logger: logger
        )
        // Services shut down in reverse order: Socket.IO closes its sessions (answering held
        // polls) before the HTTP server drains.
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app)] + services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }

    static func engineConfiguration(path: String) -> EngineConfiguration {
        EngineConfiguration(
            path: path,
            pingInterval: .milliseconds(300),
            pingTimeout: .milliseconds(200),
            maxPayload: 1_000_000,
            cors: .anyOrigin
        )
    }
}
