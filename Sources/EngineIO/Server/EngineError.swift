import HTTPTypes

/// The Engine.IO protocol's request errors, codes 0–5, with their HTTP status and JSON body.
public enum EngineError: Error, Sendable, Equatable {
    case unknownTransport
    case unknownSession
    case badHandshakeMethod
    case badRequest
    /// Refused by `allowRequest`; `message` defaults to "Forbidden".
    case forbidden(message: String = "Forbidden")
    case unsupportedProtocolVersion

    public var code: Int {
        switch self {
        case .unknownTransport: 0
        case .unknownSession: 1
        case .badHandshakeMethod: 2
        case .badRequest: 3
        case .forbidden: 4
        case .unsupportedProtocolVersion: 5
        }
    }

    public var message: String {
        switch self {
        case .unknownTransport: "Transport unknown"
        case .unknownSession: "Session ID unknown"
        case .badHandshakeMethod: "Bad handshake method"
        case .badRequest: "Bad request"
        case .forbidden(let message): message
        case .unsupportedProtocolVersion: "Unsupported protocol version"
        }
    }

    public var status: HTTPResponse.Status {
        if case .forbidden = self { return .forbidden }
        return .badRequest
    }

    /// `{"code":N,"message":"…"}`
    public var body: String {
        #"{"code":\#(code),"message":\#(JSONText.quoted(message))}"#
    }
}

/// The one JSON string quoting the transport layer needs.
enum JSONText {
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
