import HTTPTypes

/// Which cross-origin requests the Engine.IO endpoint answers, and how (the options of Node's
/// `cors` package that matter here).
public struct CORSPolicy: Sendable {
    public enum Origins: Sendable, Equatable {
        /// `Access-Control-Allow-Origin: *`.
        case any
        /// The request's `Origin` reflected when it is in the list (`Vary: Origin`); other
        /// origins are refused with 403 on every request.
        case list([String])
    }

    public var origins: Origins
    /// `Access-Control-Allow-Credentials: true`; never with ``Origins/any`` (browsers refuse it).
    public var credentials: Bool
    /// `Access-Control-Allow-Methods` of a preflight.
    public var methods: [String]
    /// `Access-Control-Allow-Headers` of a preflight; nil reflects the request's
    /// `Access-Control-Request-Headers`, as Node's `cors` does.
    public var allowedHeaders: [String]?
    /// `Access-Control-Expose-Headers` of every answer.
    public var exposedHeaders: [String]
    /// `Access-Control-Max-Age` of a preflight.
    public var maxAge: Duration?

    public init(
        origins: Origins,
        credentials: Bool = false,
        methods: [String] = ["GET", "POST", "OPTIONS"],
        allowedHeaders: [String]? = nil,
        exposedHeaders: [String] = [],
        maxAge: Duration? = nil
    ) {
        self.origins = origins
        self.credentials = credentials
        self.methods = methods
        self.allowedHeaders = allowedHeaders
        self.exposedHeaders = exposedHeaders
        self.maxAge = maxAge
    }

    /// `Access-Control-Allow-Origin: *`, no credentials.
    public static let anyOrigin = CORSPolicy(origins: .any)

    /// These origins, reflected, with credentials allowed.
    public static func origins(_ allowed: [String]) -> CORSPolicy {
        CORSPolicy(origins: .list(allowed), credentials: true)
    }

    var allowedOrigins: [String]? {
        if case .list(let allowed) = origins { return allowed }
        return nil
    }
}

/// The `io` cookie (Node's `cookie` option): the session id in a cookie set by the handshake
/// answer (the polling handshake or the 101), so a load balancer can stick by it.
public struct EngineCookie: Sendable {
    public var name: String
    public var path: String?
    public var domain: String?
    public var httpOnly: Bool
    /// `Strict`, `Lax` or `None`; nil leaves the attribute out.
    public var sameSite: String?
    public var secure: Bool
    public var maxAge: Duration?

    /// Node's defaults for `cookie: true`: `io`, path `/`, HttpOnly, SameSite=Lax.
    public init(name: String = "io", path: String? = "/", domain: String? = nil, httpOnly: Bool = true, sameSite: String? = "Lax", secure: Bool = false, maxAge: Duration? = nil) {
        self.name = name
        self.path = path
        self.domain = domain
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.secure = secure
        self.maxAge = maxAge
    }

    /// The `Set-Cookie` value for a session.
    func header(for sid: String) -> String {
        var parts = ["\(name)=\(sid)"]
        if let maxAge { parts.append("Max-Age=\(maxAge.components.seconds)") }
        if let domain { parts.append("Domain=\(domain)") }
        if let path { parts.append("Path=\(path)") }
        if httpOnly { parts.append("HttpOnly") }
        if secure { parts.append("Secure") }
        if let sameSite { parts.append("SameSite=\(sameSite)") }
        return parts.joined(separator: "; ")
    }
}

/// A request Engine.IO refused before or outside a session's own traffic (Node's
/// `connection_error` event): the request, and the error with Node's code and message.
public struct EngineConnectionError: Sendable {
    public let request: EngineRequest
    public let error: EngineError
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

/// What becomes of packets sent to a WebSocket while its last batch waits for the coalescing
/// window (``EngineConfiguration/webSocketWriteCoalescing``). No choice reorders: what joins a
/// batch is everything that waited, in order, after it.
public enum WebSocketWriteJoining: String, Sendable, CaseIterable {
    /// They wait for the next window: packets sent separately reach the client in separate
    /// segments, as from the reference server; a packet waits up to two windows.
    case nextWindow = "next-window"
    /// They join the waiting batch when the batch or the first of them is a broadcast's packet
    /// (``PreparedMessages``); a session's own packets sent one after another with no broadcast
    /// among them (a CONNECT reply and what the connection handler emits, say) still leave a
    /// window apart. The default: under a fan-out a socket's writes carry every message that
    /// came in the window (one window of latency), while clients that take one message per read
    /// event (the official protocol suite's) still get the packets of the connection's setup in
    /// separate segments.
    case withBroadcasts = "broadcasts"
    /// They always join the waiting batch: a packet waits one window at most. For clients that
    /// read every message of a segment, as the official ones do.
    case waitingBatch = "waiting"
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
    /// A WebSocket that joined a polling session and has not completed the upgrade (probe, then
    /// `5`) within this time is closed; the session goes on polling.
    public var upgradeTimeout: Duration = .seconds(10)
    /// Writes to one WebSocket leave at least this far apart: what is sent to it meanwhile waits
    /// and leaves together, in order. Every write is a system call (about half of the server's
    /// CPU per delivered message), so a wider window costs fewer of them per message once
    /// messages come faster than it, and adds up to one window to their latency (two to what
    /// does not join a waiting batch: ``webSocketWriteJoining``). 2 ms by default; zero writes
    /// each batch as soon as its loop gets to it.
    public var webSocketWriteCoalescing: Duration = .milliseconds(2)
    /// Where packets sent to a WebSocket while its batch waits for the window go.
    public var webSocketWriteJoining: WebSocketWriteJoining = .withBroadcasts
    public var cors: CORSPolicy?
    /// The `io` cookie; none by default, as in Node.
    public var cookie: EngineCookie?
    /// Compression of polling answers; on by default with a 1 KiB threshold, as in Node (nil
    /// turns it off).
    public var httpCompression: HTTPCompressionOptions? = HTTPCompressionOptions()
    /// permessage-deflate for WebSocket clients that offer it; off by default, as in Node.
    public var perMessageDeflate: PerMessageDeflateOptions?
    /// Told of every refused handshake, unknown session and refused session request.
    public var onConnectionError: (@Sendable (EngineConnectionError) -> Void)?

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
