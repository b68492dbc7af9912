import AuctionCore
import EngineIO
import Foundation
import HTTPTypes
import Hummingbird
import RedisClient

/// `POST /auth/register`, `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`,
/// `GET /auth/me`.
///
/// A login starts a sign-in: a short-lived access token (cookie and body) and a refresh token
/// (HttpOnly cookie scoped to `/auth`, and the body for non-browser clients). `POST
/// /auth/refresh` spends the refresh token for a new pair; presenting a spent one ends the
/// sign-in. Logout ends the sign-in of the request (`?everywhere=true`: every sign-in of the
/// user) on every instance: its access tokens are refused and its sockets disconnected.
struct AuthRoutes: Sendable {
    let users: UserRepository
    let tokens: AccessTokens
    let authenticator: Authenticator
    let hasher: PasswordHasher
    let sessions: any SessionStore
    let knownCookies: KnownSessionCookies
    let signIns: any SignInStore
    let ended: EndedSignIns
    let loginThrottle: LoginThrottle
    let configuration: ServiceConfiguration

    struct Registration: Decodable {
        var email: String
        var name: String
        var password: String
    }

    struct Credentials: Decodable {
        var email: String
        var password: String
    }

    struct UserBody: Encodable {
        var user: UserRecord
    }

    struct LoginBody: Encodable {
        var accessToken: String
        var tokenType = "Bearer"
        var expiresIn: Int
        var refreshToken: String
        var user: UserRecord
    }

    struct RefreshRequest: Decodable {
        var refreshToken: String?
    }

    func register(on router: Router<AppRequestContext>) {
        router.post("/auth/register") { request, _ in try await self.register(request) }
        router.post("/auth/login") { request, context in try await self.login(request, context: context) }
        router.post("/auth/refresh") { request, _ in try await self.refresh(request) }
        router.post("/auth/logout") { request, _ in try await self.logout(request) }
        router.get("/auth/me") { request, _ in try await self.me(request) }
    }

    func register(_ request: Request) async throws -> Response {
        let body = try await RequestJSON.decode(Registration.self, from: request)
        let email = body.email.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.isPlausibleEmail(email) else { throw APIError.invalidInput("Field 'email' must be an email address.") }
        if let problem = StoredText.problem(email, lengths: 3...254) { throw APIError.invalidInput("Field 'email' \(problem).") }
        if let problem = StoredText.problem(name, lengths: 1...100) { throw APIError.invalidInput("Field 'name' \(problem).") }
        if let problem = PasswordRules.problem(body.password) { throw APIError.invalidInput("Field 'password' \(problem).") }
        let hash = try await hasher.hash(body.password)
        do {
            let user = try await users.create(email: email, name: name, passwordHash: hash)
            return try JSONResponse.encode(UserBody(user: user), status: .created)
        } catch is EmailTaken {
            throw APIError.emailTaken
        }
    }

    func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await RequestJSON.decode(Credentials.self, from: request)
        let address = configuration.trustedProxies.clientAddress(peer: context.remoteAddress?.ipAddress, headers: request.headers)
        let email = body.email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        // A password no account can have is refused before bcrypt could cut it short.
        if StoredText.hasControlCharacter(email) { throw APIError.invalidInput("Field 'email' must not contain control characters.") }
        if let problem = PasswordRules.problem(body.password) { throw APIError.invalidInput("Field 'password' \(problem).") }
        if let wait = await loginThrottle.lockout(account: email) { throw APIError.rateLimited(retryAfter: wait) }
        let found = try await users.credentials(email: email)
        // Unknown address and wrong password get the same answer after the same work.
        guard try await hasher.verify(body.password, hash: found?.1), let user = found?.0 else {
            if let wait = await loginThrottle.failed(account: email, address: address) { throw APIError.rateLimited(retryAfter: wait) }
            throw APIError.invalidCredentials
        }
        await loginThrottle.succeeded(account: email)
        let refreshToken = try await storage { try await signIns.start(userID: user.id, now: Date()) }
        return try await signedIn(user, refreshToken: refreshToken)
    }

    /// The refresh token of the cookie, else of the body `{refreshToken}`; none at all is 401
    /// like a wrong one (a body that is not such an object is 400).
    func refresh(_ request: Request) async throws -> Response {
        let presented: String
        if let cookie = EngineRequest.cookie(Cookies.refreshToken, in: request.headers), !cookie.isEmpty {
            presented = cookie
        } else if let body = try await RequestJSON.decodeIfPresent(RefreshRequest.self, from: request)?.refreshToken {
            presented = body
        } else {
            throw APIError.unauthorized
        }
        guard let token = RefreshToken(presented) else { throw APIError.unauthorized }
        switch try await storage({ try await signIns.rotate(token, now: Date()) }) {
        case .rotated(let userID, let next):
            guard let user = try await users.find(id: userID) else { throw APIError.unauthorized }
            return try await signedIn(user, refreshToken: next)
        case .reused:
            await ended.announce([token.signInID])
            return APIError.unauthorized.response(headers: clearedCookies())
        case .unknown:
            return APIError.unauthorized.response(headers: clearedCookies())
        }
    }

    /// Ends the sign-in of the request's access token (or of its refresh cookie); with
    /// `?everywhere=true`, every sign-in of its user.
    func logout(_ request: Request) async throws -> Response {
        let everywhere: Bool
        switch request.uri.queryParameters.getAll("everywhere") {
        case []: everywhere = false
        case ["true"]: everywhere = true
        case ["false"]: everywhere = false
        default: throw APIError.invalidInput("Query 'everywhere' must be true or false, once.")
        }
        if let session = EngineRequest.cookie(Cookies.sessionID, in: request.headers), SessionToken.isWellFormed(session) {
            try? await sessions.delete(session)
            knownCookies.forget(session)
        }
        let token = await authenticator.verifiedToken(request.headers)
        var endedIDs: [String] = []
        if everywhere {
            guard let token else { throw APIError.unauthorized }
            endedIDs = try await storage { try await signIns.endAll(userID: token.userID, now: Date()) }
            if let own = token.signInID, !endedIDs.contains(own) { endedIDs.append(own) }
        } else if let signInID = token?.signInID
            ?? EngineRequest.cookie(Cookies.refreshToken, in: request.headers).flatMap(RefreshToken.init)?.signInID
        {
            try await storage { try await signIns.end(signInID: signInID, now: Date()) }
            endedIDs = [signInID]
        }
        await ended.announce(endedIDs)
        return Response(status: .noContent, headers: clearedCookies())
    }

    func me(_ request: Request) async throws -> Response {
        guard let (user, _) = try await authenticator.authenticate(request.headers) else { throw APIError.unauthorized }
        return try JSONResponse.encode(UserBody(user: user))
    }

    /// The answer of a login or a refresh: a new access token for the sign-in, both cookies.
    private func signedIn(_ user: UserRecord, refreshToken: RefreshToken) async throws -> Response {
        let (token, _) = try await tokens.issue(userID: user.id, signInID: refreshToken.signInID)
        let ttl = Int(tokens.lifetime)
        let secure = configuration.cookieSecure
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: Cookies.set(Cookies.accessToken, token, maxAge: ttl, secure: secure)))
        headers.append(HTTPField(
            name: .setCookie,
            value: Cookies.set(Cookies.refreshToken, refreshToken.description, maxAge: configuration.refreshTokenTTL, secure: secure, path: Cookies.refreshPath)
        ))
        headers.append(HTTPField(
            name: .setCookie,
            value: Cookies.set(Cookies.signedIn, "1", maxAge: configuration.refreshTokenTTL, secure: secure, httpOnly: false)
        ))
        headers[.cacheControl] = "no-store"
        return try JSONResponse.encode(LoginBody(accessToken: token, expiresIn: ttl, refreshToken: refreshToken.description, user: user), headers: headers)
    }

    private func clearedCookies() -> HTTPFields {
        let secure = configuration.cookieSecure
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.accessToken, secure: secure)))
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.sessionID, secure: secure)))
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.refreshToken, secure: secure, path: Cookies.refreshPath)))
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.signedIn, secure: secure, httpOnly: false)))
        return headers
    }

    /// Sign-in storage (Redis) that does not answer is an outage, told as such.
    private func storage<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as RedisError {
            throw StorageUnavailable(underlying: "\(error)")
        }
    }

    static func isPlausibleEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !email.contains(where: \.isWhitespace)
    }
}
