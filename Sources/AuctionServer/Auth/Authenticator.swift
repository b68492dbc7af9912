import EngineIO
import HTTPTypes

/// Finds the signed-in user of a request: an access token from the `access_token` cookie
/// (browsers) or `Authorization: Bearer` (other clients), valid and unexpired, for a user that
/// still exists.
public struct Authenticator: Sendable {
    let tokens: AccessTokens
    let users: UserRepository

    public init(tokens: AccessTokens, users: UserRepository) {
        self.tokens = tokens
        self.users = users
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
        guard let user = try await users.find(id: verified.userID) else { return nil }
        return (user, verified)
    }
}

/// Names and attributes of the cookies the service sets.
public enum Cookies {
    public static let accessToken = "access_token"
    public static let sessionID = "session_id"

    static func set(_ name: String, _ value: String, maxAge: Int?, secure: Bool) -> String {
        var cookie = "\(name)=\(value); Path=/; HttpOnly; SameSite=Strict"
        if let maxAge { cookie += "; Max-Age=\(maxAge)" }
        if secure { cookie += "; Secure" }
        return cookie
    }

    static func clear(_ name: String, secure: Bool) -> String {
        set(name, "", maxAge: 0, secure: secure)
    }
}
