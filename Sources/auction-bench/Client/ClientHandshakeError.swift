/// Why a benchmark client did not reach the Socket.IO connected state.
enum ClientHandshakeError: Error, Hashable, CustomStringConvertible {
    /// The server answered the HTTP request without switching to WebSocket.
    case upgradeRefused
    /// The server answered CONNECT with CONNECT_ERROR.
    case connectRefused(String)
    case closedBeforeConnected
    case timedOut
    /// The server sent something an Engine.IO / Socket.IO client cannot accept at this point.
    case protocolViolation(String)

    var description: String {
        switch self {
        case .upgradeRefused: "WebSocket upgrade refused"
        case .connectRefused(let message): "Socket.IO CONNECT refused: \(message)"
        case .closedBeforeConnected: "connection closed before Socket.IO connected"
        case .timedOut: "handshake timed out"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        }
    }
}
