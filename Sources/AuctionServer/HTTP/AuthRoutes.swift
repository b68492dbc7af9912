import AuctionCore
import EngineIO
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /auth/register`, `POST /auth/login`, `POST /auth/logout`, `GET /auth/me`.
struct AuthRoutes: Sendable {
    let users: UserRepository
    let tokens: AccessTokens
    let authenticator: Authenticator
    let hasher: PasswordHasher
    let sessions: any SessionStore
    let knownCookies: KnownSessionCookies
    let loginLimiter: RateLimiter
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
        var user: UserRecord
    }

    func register(on router: Router<AppRequestContext>) {
        router.post("/auth/register") { request, _ in try await self.register(request) }
        router.post("/auth/login") { request, context in try await self.login(request, context: context) }
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
        guard loginLimiter.allow("ip:\(address)"), loginLimiter.allow("email:\(email)") else {
            throw APIError.rateLimited
        }
        // A password no account can have is refused before bcrypt could cut it short.
        if StoredText.hasControlCharacter(email) { throw APIError.invalidInput("Field 'email' must not contain control characters.") }
        if let problem = PasswordRules.problem(body.password) { throw APIError.invalidInput("Field 'password' \(problem).") }
        let found = try await users.credentials(email: email)
        // Unknown address and wrong password get the same answer after the same work.
        guard try await hasher.verify(body.password, hash: found?.1), let user = found?.0 else {
            throw APIError.invalidCredentials
        }
        let (token, _) = try await tokens.issue(userID: user.id)
        let ttl = Int(tokens.lifetime)
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: Cookies.set(Cookies.accessToken, token, maxAge: ttl, secure: configuration.cookieSecure)))
        headers[.cacheControl] = "no-store"
        return try JSONResponse.encode(LoginBody(accessToken: token, expiresIn: ttl, user: user), headers: headers)
    }

    func logout(_ request: Request) async throws -> Response {
        if let session = EngineRequest.cookie(Cookies.sessionID, in: request.headers), SessionToken.isWellFormed(session) {
            try? await sessions.delete(session)
            knownCookies.forget(session)
        }
        var headers = HTTPFields()
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.accessToken, secure: configuration.cookieSecure)))
        headers.append(HTTPField(name: .setCookie, value: Cookies.clear(Cookies.sessionID, secure: configuration.cookieSecure)))
        return Response(status: .noContent, headers: headers)
    }

    func me(_ request: Request) async throws -> Response {
        guard let (user, _) = try await authenticator.authenticate(request.headers) else { throw APIError.unauthorized }
        return try JSONResponse.encode(UserBody(user: user))
    }

    static func isPlausibleEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !email.contains(where: \.isWhitespace)
    }
}
