import HTTPTypes
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// An Engine.IO v4 server: session registry, handshake, long-polling and the WebSocket transport.
///
/// Mount it in a Hummingbird application with ``HTTPServerBuilder/engineIO(_:configuration:)``;
/// requests under ``EngineConfiguration/path`` are answered here, every other request goes to the
/// application's router.
public final class EngineServer: Sendable {
    public typealias ConnectionHandler = @Sendable (EngineSession) -> Void

    public let configuration: EngineConfiguration
    let logger: Logger
    private let sessions = NIOLockedValueBox<[String: EngineSession]>([:])
    /// In a struct, not as the box's value itself: reading a closure through the box's generic
    /// `inout` writes back a reabstracted copy, one more thunk layer per read, and every new
    /// session then called through all of them (connection setup slowed down with each session).
    private struct Handlers {
        var connection: ConnectionHandler?
    }

    private let handlers = NIOLockedValueBox(Handlers())
    private let shuttingDown = NIOLockedValueBox(false)
    let writeQueues = EngineWriteQueues()

    public init(configuration: EngineConfiguration, logger: Logger = Logger(label: "engine.io")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Called for each new session, before its first packet is processed.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        handlers.withLockedValue { $0.connection = handler }
    }

    public var sessionCount: Int { sessions.withLockedValue { $0.count } }

    public func session(id: String) -> EngineSession? {
        sessions.withLockedValue { $0[id] }
    }

    /// Refuses new sessions from now on; the open ones stay open.
    public func refuseNewSessions() {
        shuttingDown.withLockedValue { $0 = true }
    }

    /// Refuses new sessions and closes every open one with a `close` packet.
    public func shutdown() {
        refuseNewSessions()
        let open = sessions.withLockedValue { Array($0.values) }
        for session in open { session.close(reason: .serverShuttingDown) }
    }

    // MARK: Sessions

    func makeSession(
        request: EngineRequest,
        attachments: [String: String],
        transport: EngineTransport,
        webSocket: WebSocketOutput?,
        eventLoop: any EventLoop
    ) -> EngineSession {
        let session = EngineSession(
            id: SessionID.make(),
            request: request,
            attachments: attachments,
            transport: transport,
            webSocket: webSocket,
            eventLoop: eventLoop,
            configuration: configuration,
            onFinish: { [weak self] session, reason in
                self?.sessions.withLockedValue { _ = $0.removeValue(forKey: session.id) }
                self?.logger.info("session closed", metadata: ["sid": "\(session.id)", "reason": "\(reason.rawValue)"])
            }
        )
        sessions.withLockedValue { $0[session.id] = session }
        logger.info("session opened", metadata: ["sid": "\(session.id)", "transport": "\(transport.rawValue)", "remote": "\(request.remoteAddress?.description ?? "-")"])
        handlers.withLockedValue { $0.connection }?(session)
        return session
    }

    func openPacket(for session: EngineSession, transport: EngineTransport) -> EnginePacket {
        let upgrades = transport == .polling && configuration.allowUpgrades && configuration.transports.contains(.websocket)
        let json =
            #"{"sid":\#(JSONText.quoted(session.id)),"upgrades":\#(upgrades ? #"["websocket"]"# : "[]"),"#
            + #""pingInterval":\#(configuration.pingInterval.milliseconds),"pingTimeout":\#(configuration.pingTimeout.milliseconds),"#
            + #""maxPayload":\#(configuration.maxPayload)}"#
        return EnginePacket(.open, .text(json))
    }

    var isShuttingDown: Bool { shuttingDown.withLockedValue { $0 } }

    /// Checks `EIO` and `transport` of any Engine.IO request.
    func validate(_ request: EngineRequest) -> EngineError? {
        guard request.query["EIO"] == "4" else { return .unsupportedProtocolVersion }
        guard let name = request.transport, let transport = EngineTransport(rawValue: name),
            configuration.transports.contains(transport)
        else { return .unknownTransport }
        return nil
    }

    func allow(_ request: EngineRequest) async -> AllowDecision {
        if isShuttingDown { return .deny(.forbidden(message: "Server shutting down")) }
        if case .origins(let allowed) = configuration.cors, let origin = request.origin, !allowed.contains(origin),
            !request.isSameOrigin(origin)
        {
            logger.info("handshake refused", metadata: ["reason": "origin", "origin": "\(origin)", "remote": "\(request.remoteAddress?.description ?? "-")"])
            return .deny(.forbidden())
        }
        guard let allowRequest = configuration.allowRequest else { return .allow() }
        let decision = await allowRequest(request)
        if case .deny(let error) = decision {
            logger.info("handshake refused", metadata: ["code": "\(error.code)", "remote": "\(request.remoteAddress?.description ?? "-")"])
        }
        return decision
    }
}

/// Session ids: 120 random bits in URL-safe base64, 20 characters as Node's engine.io makes them.
/// Random identifiers for sessions and sockets.
public enum SessionID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 15)
        for index in bytes.indices { bytes[index] = generator.next() }
        return Base64.encode(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
