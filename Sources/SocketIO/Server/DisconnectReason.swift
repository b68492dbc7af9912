import EngineIO

/// Why a socket left its namespace, with the strings the Node.js server uses.
public enum DisconnectReason: String, Sendable, Equatable {
    case serverNamespaceDisconnect = "server namespace disconnect"
    case clientNamespaceDisconnect = "client namespace disconnect"
    case serverShuttingDown = "server shutting down"
    case pingTimeout = "ping timeout"
    case transportClose = "transport close"
    case transportError = "transport error"
    case parseError = "parse error"
    case forcedClose = "forced close"
    case forcedServerClose = "forced server close"

    init(_ reason: EngineCloseReason) {
        switch reason {
        case .serverClose: self = .forcedServerClose
        // Node's engine ends a session the client closed as its transport closing.
        case .clientClose: self = .transportClose
        case .transportClose: self = .transportClose
        case .transportError: self = .transportError
        case .parseError: self = .parseError
        case .pingTimeout: self = .pingTimeout
        case .serverShuttingDown: self = .serverShuttingDown
        }
    }
}

/// Errors the Socket.IO layer reports to application code.
public enum SocketIOError: Error, Equatable, Sendable {
    /// The peer did not acknowledge within the timeout.
    case ackTimeout
    /// The socket is not (or no longer) connected.
    case disconnected
}

/// Thrown by a namespace middleware to refuse a connection; the client gets a CONNECT_ERROR
/// with `{"message": message, "data": data}`.
public struct ConnectionRefusal: Error, Sendable {
    public var message: String
    public var data: JSONValue?

    public init(_ message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }

    var payload: JSONValue {
        var members = [JSONMember(key: "message", value: .string(message))]
        if let data { members.append(JSONMember(key: "data", value: data)) }
        return .object(members)
    }
}
