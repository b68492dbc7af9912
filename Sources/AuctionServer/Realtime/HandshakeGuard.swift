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
    let knownCookies: KnownSessionCookies


    enum Attachment {
        static let userID = "userId"
        static let userName = "userName"
        static let tokenExpiresAt = "tokenExpiresAt"
        /// The sign-in of the handshake's access token, when it has one.
        static let signInID = "signInId"
    }

    /// A handshake needs a valid, unexpired access token (cookie or Bearer) for a user that still
    /// exists; the session is then bound to that user. A later request of the session (polling,
    /// the upgrade) must show whose it is; the engine compares that with the identity granted here.
    /// The engine has already refused foreign origins.
    func allow(_ request: EngineRequest) async -> AllowDecision {
        if request.sessionID != nil {
            guard let userID = await requester(request) else { return .deny(.forbidden()) }
            return .allow(identity: userID)
        }
        do {
            guard let (user, token) = try await authenticator.authenticate(request.headers) else {
                return .deny(.forbidden())
            }
            var attachments = [
                Attachment.userID: user.id,
                Attachment.userName: user.name,
                Attachment.tokenExpiresAt: String(token.expiresAt.timeIntervalSince1970),
            ]
            attachments[Attachment.signInID] = token.signInID
            return .allow(attachments, identity: user.id)
        } catch {
            logger.warning("handshake refused: storage unavailable", metadata: ["error": "\(error)"])
            return .deny(.forbidden(message: "Service unavailable"))
        }
    }

    /// Whose request of an open session this is: the user of a valid access token (cookie or
    /// Bearer), else of the `session_id` cookie this instance issued or verified at a handshake.
    /// The cookie is what carries it for clients that send their headers with the handshake only
    /// (python-socketio's polling requests keep just their cookie jar), and for a tab whose access
    /// token expired while its session stays open. Neither needs storage: polling requests come
    /// several times a second, and must not fail while Redis is away.
    private func requester(_ request: EngineRequest) async -> String? {
        if let token = await authenticator.verifiedToken(request.headers) { return token.userID }
        guard let session = request.cookie(Cookies.sessionID), SessionToken.isWellFormed(session) else { return nil }
        return knownCookies.userID(for: session)
    }

    /// `Set-Cookie: session_id=…` unless the request already carries a live session of this user.
    func initialHeaders(_ request: EngineRequest, _ attachments: [String: String]) async -> HTTPFields {
        guard let userID = attachments[Attachment.userID] else { return [:] }
        if let existing = request.cookie(Cookies.sessionID), SessionToken.isWellFormed(existing),
            (try? await sessions.userID(for: existing)) == userID
        {
            knownCookies.remember(existing, userID: userID)
            return [:]
        }
        do {
            let id = try await sessions.create(userID: userID, ttl: configuration.sessionTTL)
            knownCookies.remember(id, userID: userID)
            return [.setCookie: Cookies.set(Cookies.sessionID, id, maxAge: configuration.sessionTTL, secure: configuration.cookieSecure)]
        } catch {
            logger.warning("session not created", metadata: ["error": "\(error)"])
            return [:]
        }
    }
}
