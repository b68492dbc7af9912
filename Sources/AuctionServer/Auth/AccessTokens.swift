import Foundation
import JWTKit

/// The claims of our access tokens.
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var jti: IDClaim
    /// The sign-in the token was issued for; tokens without one cannot be revoked before they expire.
    var sid: String?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

/// Why a token was not accepted. The peer is only ever told "unauthorized".
public enum TokenRejection: Error, Equatable {
    case malformed
    case wrongAlgorithm
    case invalid
}

/// A verified access token.
public struct VerifiedToken: Sendable, Equatable {
    public var userID: String
    public var expiresAt: Date
    public var signInID: String?
}

/// Issues and verifies HS256 access tokens (`sub`, `exp`, `iat`, `jti`, and `sid`, the sign-in).
public struct AccessTokens: Sendable {
    let keys: JWTKeyCollection
    public let lifetime: TimeInterval

    public init(secret: String, lifetime: TimeInterval) async {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(stringLiteral: secret), digestAlgorithm: .sha256)
        self.keys = keys
        self.lifetime = lifetime
    }

    public func issue(userID: String, signInID: String?, now: Date = Date()) async throws -> (token: String, expiresAt: Date) {
        // Whole seconds: `exp` and `iat` are NumericDate seconds.
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let expires = issued.addingTimeInterval(lifetime)
        let claims = AccessClaims(
            sub: SubjectClaim(value: userID),
            exp: ExpirationClaim(value: expires),
            iat: IssuedAtClaim(value: issued),
            jti: IDClaim(value: UUID().uuidString),
            sid: signInID
        )
        return (try await keys.sign(claims), expires)
    }

    /// Verifies signature and expiry; the algorithm is pinned to HS256 before anything else is read.
    public func verify(_ token: String) async throws(TokenRejection) -> VerifiedToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count < 4096 else { throw .malformed }
        guard let headerData = Base64URL.decode(String(parts[0])),
            let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any]
        else { throw .malformed }
        guard header["alg"] as? String == "HS256" else { throw .wrongAlgorithm }
        do {
            let claims = try await keys.verify(token, as: AccessClaims.self)
            return VerifiedToken(userID: claims.sub.value, expiresAt: claims.exp.value, signInID: claims.sid)
        } catch {
            throw .invalid
        }
    }
}

enum Base64URL {
    static func decode(_ string: String) -> Data? {
        var base64 = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
