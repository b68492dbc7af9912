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
    /// Counts for metrics.
    public let statistics = EngineStatistics()
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
    private let quota: NIOLockedValueBox<SessionQuota>
    let writeQueues = EngineWriteQueues()

    public init(configuration: EngineConfiguration, logger: Logger = Logger(label: "engine.io")) {
        self.configuration = configuration
        self.logger = logger
        self.quota = NIOLockedValueBox(SessionQuota(limits: configuration.sessionLimits))
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
        admission: Admission,
        transport: EngineTransport,
        webSocket: WebSocketOutput?,
        eventLoop: any EventLoop
    ) -> EngineSession {
        admission.reservation.adopt()
        let reservation = admission.reservation
        let session = EngineSession(
            id: admission.id,
            request: request,
            attachments: admission.attachments,
            identity: admission.identity,
            transport: transport,
            webSocket: webSocket,
            eventLoop: eventLoop,
            configuration: configuration,
            statistics: statistics,
            onFinish: { [weak self] session, reason in
                reservation.release()
                self?.sessions.withLockedValue { _ = $0.removeValue(forKey: session.id) }
                self?.logger.info("session closed", metadata: ["sid": "\(session.logID)", "reason": "\(reason.rawValue)"])
            }
        )
        sessions.withLockedValue { $0[session.id] = session }
        statistics.countOpened()
        logger.info("session opened", metadata: ["sid": "\(session.logID)", "transport": "\(transport.rawValue)", "remote": "\(request.remoteAddress?.description ?? "-")"])
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

    /// A handshake that the origin check, `allowRequest` and the session quota let through.
    struct Admission: Sendable {
        /// The new session's id, known before the session exists (for the `io` cookie of a 101).
        var id: String
        var attachments: [String: String]
        var identity: String? = nil
        var reservation: SessionReservation
    }

    /// Decides a handshake (polling or WebSocket-first): refused while shutting down, for a foreign
    /// origin, by `allowRequest`, or over ``EngineConfiguration/sessionLimits``.
    func admit(_ request: EngineRequest) async -> Result<Admission, EngineError> {
        if isShuttingDown {
            statistics.countRefusal(.shuttingDown)
            return .failure(.forbidden(message: "Server shutting down"))
        }
        if let refusal = refuseForeignOrigin(request) { return .failure(refusal) }
        var attachments: [String: String] = [:]
        var identity: String?
        if let allowRequest = configuration.allowRequest {
            switch await allowRequest(request) {
            case .allow(let granted, let grantedIdentity):
                attachments = granted
                identity = grantedIdentity
            case .deny(let error):
                statistics.countRefusal(.denied)
                logger.info("handshake refused", metadata: ["code": "\(error.code)", "remote": "\(request.remoteAddress?.description ?? "-")"])
                return .failure(error)
            }
        }
        let address = configuration.clientAddress?(request) ?? request.remoteAddress?.ipAddress
        if let refusal = quota.withLockedValue({ $0.reserve(address: address, identity: identity) }) {
            statistics.countRefusal(refusal == .address ? .tooManyForAddress : .tooManyForIdentity)
            logger.info("handshake refused", metadata: ["reason": "\(refusal)", "remote": "\(address ?? "-")"])
            return .failure(refusal.error)
        }
        let reservation = SessionReservation(address: address, identity: identity) { [weak self] address, identity in
            self?.quota.withLockedValue { $0.release(address: address, identity: identity) }
        }
        let id = configuration.generateID?(request) ?? SessionID.make()
        return .success(Admission(id: id, attachments: attachments, identity: identity, reservation: reservation))
    }

    /// Checks a later request of an open session (polling GET or POST, the upgrade). A session
    /// bound to an identity needs `allowRequest` to grant that identity again; otherwise, as in
    /// Node, the `sid` is the credential. A refusal leaves the session as it was.
    func authorize(_ request: EngineRequest, for session: EngineSession) async -> EngineError? {
        guard let bound = session.identity else { return nil }
        if let refusal = refuseForeignOrigin(request) { return refusal }
        var granted: String?
        if let allowRequest = configuration.allowRequest, case .allow(_, let identity) = await allowRequest(request) {
            granted = identity
        }
        guard granted == bound else {
            statistics.countRefusal(.identity)
            logger.info("session request refused", metadata: ["sid": "\(session.logID)", "reason": "identity", "remote": "\(request.remoteAddress?.description ?? "-")"])
            return .forbidden()
        }
        return nil
    }

    private func refuseForeignOrigin(_ request: EngineRequest) -> EngineError? {
        guard let allowed = configuration.cors?.allowedOrigins, let origin = request.origin, !allowed.contains(origin),
            !request.isSameOrigin(origin)
        else { return nil }
        statistics.countRefusal(.origin)
        logger.info("request refused", metadata: ["reason": "origin", "origin": "\(origin)", "remote": "\(request.remoteAddress?.description ?? "-")"])
        return .forbidden()
    }
}

/// Random identifiers for sessions and sockets: 120 random bits in URL-safe base64, 20
/// characters, as Node's engine.io makes them.
public enum SessionID {
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 15)
        for index in bytes.indices { bytes[index] = generator.next() }
        return Base64.encode(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// The first characters only, for logs: enough to follow one session, too few to use it. A
    /// prefix up to a `.` (an instance tag, see ``EngineConfiguration/generateID``) is kept whole
    /// and the six characters count from after it.
    public static func redacted(_ id: String) -> String {
        let tag = id.lastIndex(of: ".").map { id[...$0] } ?? ""
        let random = id.dropFirst(tag.count)
        return random.count <= 6 ? tag + "…" : tag + random.prefix(6) + "…"
    }
}

extension Duration {
    /// Whole milliseconds (what Node's options and Redis's `PX`/`BLOCK` take).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
