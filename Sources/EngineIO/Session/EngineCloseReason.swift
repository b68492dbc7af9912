/// Why an Engine.IO session ended, in the words Socket.IO reports as disconnect reasons.
public enum EngineCloseReason: String, Sendable, Equatable {
    /// The server closed it (the application, or shutdown).
    case serverClose = "forced server close"
    /// The client sent a `close` packet (Socket.IO reports it as "transport close", as Node does).
    case clientClose = "client close"
    /// The connection carrying the session went away.
    case transportClose = "transport close"
    /// The client broke the transport's rules (second GET, second POST, oversize payload).
    case transportError = "transport error"
    /// The client sent something that is not an Engine.IO packet.
    case parseError = "parse error"
    /// No pong arrived within pingTimeout.
    case pingTimeout = "ping timeout"
    /// The server is shutting down.
    case serverShuttingDown = "server shutting down"
}
