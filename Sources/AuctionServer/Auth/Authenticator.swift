import EngineIO
import HTTPTypes
import Logging

/// Finds the signed-in user of a request: an access token from the `access_token` cookie
/// (browsers) or `Authorization: Bearer` (other clients), valid and unexpired, of a sign-in that
/// has not ended, for a user that still exists.
public struct Authenticator: Sendable {
    let tokens: AccessTokens
    let users: UserRepository
    let signIns: any SignInStore
    let ended: EndedSignIns
    let logger: Logger

    public init(tokens: AccessTokens, users: UserRepository, signIns: any SignInStore, ended: EndedSignIns, logger: Logger) {
        self.tokens = tokens
        self.users = users
        self.signIns = signIns
        self.ended = ended
        self.logger = logger
    }

    static func token(in headers: HTTPFields) -> String? {
        EngineRequest.bearerToken(in: headers) ?? EngineRequest.cookie(Cookies.accessToken, in: headers)
    }

    /// The request's token when it is valid and unexpired, without asking storage whether its
    /// user still exists: enough to tell whose request it is.
    public func verifiedToken(_ headers: HTTPFields) async -> VerifiedToken? {
        guard let raw = Self.token(in: headers), !raw.isEmpty else { return nil }
        return try? await tokens.verify(raw)
    }

    /// The user and their token, or nil when the request is not signed in.
    /// Storage failures are thrown (the caller decides how to answer).
    public func authenticate(_ headers: HTTPFields) async throws -> (UserRecord, VerifiedToken)? {
        guard let raw = Self.token(in: headers), !raw.isEmpty else { return nil }
        guard let verified = try? await tokens.verify(raw) else { return nil }
        if let signInID = verified.signInID, await hasEnded(signInID) { return nil }
        guard let user = try await users.find(id: verified.userID) else { return nil }
        return (user, verified)
    }

    /// Ended as this instance heard, or as the store says. A store that does not answer leaves
    /// the token valid until it expires (an access token lives minutes): signing in and bidding
    /// go on through a Redis outage, and what was announced before it is still refused.
    func hasEnded(_ signInID: String) async -> Bool {
        if ended.contains(signInID) { return true }
        do {
            return try await signIns.isRevoked(signInID: signInID)
        } catch {
            logger.warning("sign-in not checked: storage unavailable", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// Names and attributes of the cookies the service sets.
public enum Cookies {
    public static let accessToken = "access_token"
    public static let sessionID = "session_id"
    /// Sent only to `/auth/…` (refresh and logout), never with bids or pages.
    public static let refreshToken = "refresh_token"
    static let refreshPath = "/auth"
    /// `1` while a refresh cookie was handed out, readable by the page (not HttpOnly; it holds
    /// nothing secret): the page asks `/auth/refresh` only when it is there, so a signed-out
    /// visitor's page makes no request bound to fail.
    public static let signedIn = "signed_in"

    static func set(_ name: String, _ value: String, maxAge: Int?, secure: Bool, path: String = "/", httpOnly: Bool = true) -> String {
        var cookie = "\(name)=\(value); Path=\(path);\(httpOnly ? " HttpOnly;" : "") SameSite=Strict"
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        if secure { cookie += "; Secure" }
        return cookie
    }

    static func clear(_ name: String, secure: Bool, path: String = "/", httpOnly: Bool = true) -> String {
        set(name, "", maxAge: 0, secure: secure, path: path, httpOnly: httpOnly)
    }
}
