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
    public var query: [String: String] { request.query }
    public var address: String? { request.remoteAddress?.ipAddress }
}
