/// Where a Socket.IO server listens, parsed from a URL such as `http://127.0.0.1:3000` or
/// `ws://host:3000/custom-path/`. Only the WebSocket transport is used, so TLS is not supported.
struct ServerAddress: Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    /// The Engine.IO path, with leading and trailing slash; `/socket.io/` unless the URL names one.
    var path: String

    enum ParseError: Error, CustomStringConvertible {
        case unsupportedScheme(String)
        case missingHost(String)
        case invalidPort(String)

        var description: String {
            switch self {
            case .unsupportedScheme(let url): "unsupported URL scheme in \(url) (use http:// or ws://)"
            case .missingHost(let url): "no host in \(url)"
            case .invalidPort(let url): "invalid port in \(url)"
            }
        }
    }

    init(url: String) throws(ParseError) {
        var rest = Substring(url)
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "ws" else { throw .unsupportedScheme(url) }
            rest = rest[schemeEnd.upperBound...]
        }
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        let pathPart = rest[authority.endIndex...].prefix { $0 != "?" }
        var hostPart = authority
        var port = 80
        // Bracketed IPv6 literals carry colons of their own.
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let parsed = Int(after.dropFirst()), (1...65535).contains(parsed) else { throw .invalidPort(url) }
                port = parsed
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65535).contains(parsed) else {
                throw .invalidPort(url)
            }
            port = parsed
        }
        guard !hostPart.isEmpty else { throw .missingHost(url) }
        self.host = String(hostPart)
        self.port = port
        var path = pathPart.isEmpty || pathPart == "/" ? "/socket.io/" : String(pathPart)
        if !path.hasSuffix("/") { path += "/" }
        self.path = path
    }

    /// The request target of the WebSocket handshake, joining `room` through the handshake query.
    func webSocketTarget(room: String?) -> String {
        var target = path + "?EIO=4&transport=websocket"
        if let room { target += "&room=" + Self.percentEncoded(room) }
        return target
    }

    /// The `Host` header value.
    var hostHeader: String {
        let literal = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? literal : "\(literal):\(port)"
    }

    var description: String { "\(host):\(port)\(path)" }

    private static func percentEncoded(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "."), UInt8(ascii: "~"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                output += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return output
    }
}
