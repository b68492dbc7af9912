import EngineIO
import Foundation
import HTTPTypes

/// What a namespace's handlers know about how a socket connected.
public struct Handshake: Sendable {
    /// The Engine.IO handshake request: headers, cookies, query, remote address.
    public let request: EngineRequest
    /// The payload of the CONNECT packet (`auth` in the clients), `{}` when none was sent.
    public let auth: JSONValue
    /// What the application's `allowRequest` attached to the session.
    public let attachments: [String: String]
    public let time: Date

    public var headers: HTTPFields { request.headers }
    /// The headers as Node's `handshake.headers`: lower-case names in arrival order, the
    /// values of a repeated header joined with ", ".
    public var nodeHeaders: [(name: String, value: String)] {
        var folded: [(name: String, value: String)] = []
        for field in request.headers {
            let name = field.name.canonicalName.lowercased()
            if let index = folded.firstIndex(where: { $0.name == name }) {
                folded[index].value += ", " + field.value
            } else {
                folded.append((name, field.value))
            }
        }
        return folded
    }
    public var query: [String: String] { request.query }
    public var address: String? { request.remoteAddress?.ipAddress }
}
