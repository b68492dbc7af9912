import HTTPTypes

/// Which cross-origin requests the Engine.IO endpoint answers.
public enum CORSPolicy: Sendable {
    /// `Access-Control-Allow-Origin: *`, no credentials.
    case anyOrigin
    /// Reflect the request's `Origin` when it is in the list, with credentials allowed.
    case origins([String])
}

/// What the application decides in `allowRequest`.
public enum AllowDecision: Sendable {
    /// Accept; the attachments travel with the session to the application's handlers.
    ///
    /// With an `identity` (the signed-in user, say), the session is bound to it: every later
    /// request of the session — polling GET and POST, the WebSocket upgrade — goes through
    /// `allowRequest` again and is refused with 403 unless it grants the same identity. Without
    /// one, as in Node's engine.io, knowing the `sid` is enough.
    case allow([String: String] = [:], identity: String? = nil)
    /// Refuse before any session exists.
    case deny(EngineError)
}

/// Settings of an Engine.IO server. Defaults are those of the Node.js reference server.
public struct EngineConfiguration: Sendable {
    /// Mount point, with a trailing slash: `/engine.io/` or `/socket.io/`.
    public var path: String
    public var pingInterval: Duration
    public var pingTimeout: Duration
    /// Largest accepted message or polling body, in bytes.
    public var maxPayload: Int
    public var transports: Set<EngineTransport>
    public var allowUpgrades: Bool
    public var cors: CORSPolicy?

    /// Runs on every handshake and WebSocket upgrade request, before any session exists for it,
    /// and on every later request of a session bound to an identity
    /// (``EngineRequest/sessionID`` tells them apart).
    public var allowRequest: (@Sendable (EngineRequest) async -> AllowDecision)?
    /// Caps on open sessions per client address and per identity (none by default).
    public var sessionLimits = SessionLimits()
    /// The client's address for ``sessionLimits``; by default the peer's IP address. An
    /// application behind a proxy it trusts answers with the address the proxy forwarded.
    public var clientAddress: (@Sendable (EngineRequest) -> String?)?
    /// Extra headers for the first HTTP response of a session (polling handshake or the 101).
    public var initialHeaders: (@Sendable (EngineRequest, [String: String]) async -> HTTPFields)?
    /// Extra headers for every Engine.IO HTTP response.
    public var headers: (@Sendable (EngineRequest) -> HTTPFields)?
    /// Makes the id of a new session from its handshake request (polling or WebSocket-first), as
    /// Node engine.io's `generateId`; by default ``SessionID/make()``. The `sid` is all a client
    /// needs to use a session that is not bound to an identity, so an id must keep at least that
    /// much randomness, e.g. a prefix a load balancer routes on plus ``SessionID/make()``, and be
    /// unique among open sessions. It reaches clients in the query string: keep it URL-safe.
    public var generateID: (@Sendable (EngineRequest) -> String)?

    public init(
        path: String = "/engine.io/",
        pingInterval: Duration = .seconds(25),
        pingTimeout: Duration = .seconds(20),
        maxPayload: Int = 1_000_000,
        transports: Set<EngineTransport> = [.polling, .websocket],
        allowUpgrades: Bool = true,
        cors: CORSPolicy? = nil
    ) {
        self.path = path.hasSuffix("/") ? path : path + "/"
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxPayload = maxPayload
        self.transports = transports
        self.allowUpgrades = allowUpgrades
        self.cors = cors
    }

    func matches(path requestPath: String) -> Bool {
        requestPath == path || requestPath + "/" == path
    }
}
