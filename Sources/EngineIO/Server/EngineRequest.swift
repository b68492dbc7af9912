import Foundation
import HTTPTypes
import NIOCore

/// The transports Engine.IO v4 defines.
public enum EngineTransport: String, Sendable, Hashable {
    case polling
    case websocket
}

/// What the application may know about an HTTP request that reaches the Engine.IO endpoint:
/// headers, cookies, query and the peer's address. Hooks and handlers see it.
public struct EngineRequest: Sendable {
    public let method: HTTPRequest.Method
    /// The request target as sent: path and query.
    public let target: String
    public let path: String
    public let query: [String: String]
    public let headers: HTTPFields
    public let remoteAddress: SocketAddress?

    public init(method: HTTPRequest.Method, target: String, headers: HTTPFields, remoteAddress: SocketAddress?) {
        self.method = method
        self.target = target
        let (path, query) = Self.split(target: target)
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
    }

    /// The value of a cookie sent with the request, if any.
    public func cookie(_ name: String) -> String? {
        Self.cookie(name, in: headers)
    }

    /// The value of a cookie in `Cookie` headers, if any.
    public static func cookie(_ name: String, in headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let trimmed = pair.drop(while: { $0 == " " })
                guard let equals = trimmed.firstIndex(of: "=") else { continue }
                if trimmed[..<equals] == name {
                    return String(trimmed[trimmed.index(after: equals)...])
                }
            }
        }
        return nil
    }

    /// The token of `Authorization: Bearer <token>` in these headers, if any.
    public static func bearerToken(in headers: HTTPFields) -> String? {
        guard let value = headers[.authorization] else { return nil }
        let prefix = "bearer "
        guard value.count > prefix.count, value.lowercased().hasPrefix(prefix) else { return nil }
        return String(value.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    static let host = HTTPField.Name("Host")!

    /// True when `origin` is the origin this request was sent to (`http(s)://<Host>`): a page
    /// served by this very server is never a foreign origin.
    public func isSameOrigin(_ origin: String) -> Bool {
        guard let host = headers[Self.host] else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    /// The `Origin` header, when the client sent one.
    public var origin: String? { headers[.origin] }

    /// The value of `Authorization: Bearer <token>`, if present.
    public var bearerToken: String? { Self.bearerToken(in: headers) }

    /// The `sid` this request names: nil for a handshake, set for the later requests of a session.
    public var sessionID: String? { query["sid"] }

    var transport: String? { query["transport"] }

    static func split(target: String) -> (String, [String: String]) {
        guard let mark = target.firstIndex(of: "?") else { return (target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if query[key] == nil { query[key] = value }
        }
        return (String(target[..<mark]), query)
    }

    private static func decode(_ part: Substring) -> String {
        let spaced = part.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
