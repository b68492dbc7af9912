import NIOCore

/// A Redis reply (RESP2).
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    /// A bulk string: raw bytes, binary-safe. nil is the null bulk string.
    case bulk(ByteBuffer?)
    /// nil is the null array.
    case array([RESPValue]?)

    /// The value as text when it is a simple or bulk string.
    public var string: String? {
        switch self {
        case .simpleString(let text): return text
        case .bulk(let bytes?): return String(buffer: bytes)
        default: return nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes?): return Int64(String(buffer: bytes))
        default: return nil
        }
    }
}

/// Why a Redis request failed.
public enum RedisError: Error, Sendable, Equatable {
    /// No connection to Redis right now (it is down or being reconnected).
    case notConnected
    /// The connection closed before the reply arrived.
    case connectionClosed
    /// Redis did not answer within the command timeout; the connection is dropped and rebuilt.
    case timeout
    /// Redis answered with an error reply.
    case server(String)
    /// The bytes from Redis are not RESP.
    case protocolError(String)
    case invalidURL(String)
    /// The connection could not be made (refused, no route, timed out).
    case unreachable(String)
    /// Redis refused the user or password (`AUTH`), or demands one that was not given.
    case authenticationFailed(String)
    /// The TLS handshake failed (an unknown CA, a name or address the certificate does not
    /// cover), or the TLS files could not be read.
    case tls(String)
}
