import EngineIO
import Foundation
import HTTPTypes
import Logging

/// The checks every Socket.IO handshake and upgrade passes before a session exists, and the
/// `session_id` cookie of the first response.
struct HandshakeGuard: Sendable {
    let authenticator: Authenticator
    let sessions: any SessionStore
    let configuration: ServiceConfiguration
    let logger: Logger

    enum Attachment {
        static let userID = "userId"
        static let userName = "userName"
        static let tokenExpiresAt = "tokenExpiresAt"
    }

    /// A valid, unexpired access token (cookie or Bearer) for a user that still exists, and an
    /// allowed Origin when one is sent.
    func allow(_ request: EngineRequest) async -> AllowDecision {
        if let origin = request.origin, !configuration.corsOrigins.contains(origin), !request.isSameOrigin(origin) {
            logger.info("handshake refused: origin", metadata: ["origin": "\(origin)"])
            return .deny(.forbidden())
        }
        do {
            guard let (user, token) = try await authenticator.authenticate(request.headers) else {
                return .deny(.forbidden())
            }
            return .allow([
                Attachment.userID: user.id,
                Attachment.userName: user.name,
                Attachment.tokenExpiresAt: String(token.expiresAt.timeIntervalSince1970),
            ])
        } catch {
            logger.warning("handshake refused: storage unavailable", metadata: ["error": "\(error)"])
            return .deny(.forbidden(message: "Service unavailable"))
        }
    }

    /// `Set-Cookie: session_id=…` unless the request already carries a live session of this user.
    func initialHeaders(_ request: EngineRequest, _ attachments: [String: String]) async -> HTTPFields {
        guard let userID = attachments[Attachment.userID] else { return [:] }
        if let existing = request.cookie(Cookies.sessionID), SessionToken.isWellFormed(existing),
            (try? await sessions.userID(for: existing)) == userID
        {
            return [:]
        }
        do {
            let id = try await sessions.create(userID: userID, ttl: configuration.sessionTTL)
            return [.setCookie: Cookies.set(Cookies.sessionID, id, maxAge: configuration.sessionTTL, secure: configuration.cookieSecure)]
        } catch {
            logger.warning("session not created", metadata: ["error": "\(error)"])
            return [:]
        }
    }
}
