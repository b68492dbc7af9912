import Foundation
import Testing

@testable import AuctionServer

private let secret = "test-secret-0123456789abcdef0123456789"

private func base64URL(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

private func base64URL(_ json: String) -> String { base64URL(Data(json.utf8)) }

@Test func issuedTokenVerifies() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    let (token, expires) = try await tokens.issue(userID: "42", signInID: nil)
    let verified = try await tokens.verify(token)
    #expect(verified.userID == "42")
    #expect(verified.expiresAt == expires)
    #expect(expires.timeIntervalSince1970 == expires.timeIntervalSince1970.rounded())
    #expect(verified.signInID == nil)
}

@Test func aTokenNamesItsSignIn() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    let signIn = RefreshToken.make().signInID
    let (token, _) = try await tokens.issue(userID: "42", signInID: signIn)
    #expect(try await tokens.verify(token).signInID == signIn)
}

@Test func expiredTokenIsRejected() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 60)
    let (token, _) = try await tokens.issue(userID: "42", signInID: nil, now: Date().addingTimeInterval(-120))
    await #expect(throws: TokenRejection.invalid) { try await tokens.verify(token) }
}

@Test func tokenSignedWithAnotherKeyIsRejected() async throws {
    let other = await AccessTokens(secret: "another-secret-0123456789abcdef012345", lifetime: 900)
    let (token, _) = try await other.issue(userID: "42", signInID: nil)
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    await #expect(throws: TokenRejection.invalid) { try await tokens.verify(token) }
}

@Test func tamperedPayloadIsRejected() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    let (token, _) = try await tokens.issue(userID: "42", signInID: nil)
    let parts = token.split(separator: ".").map(String.init)
    let forged = base64URL(#"{"sub":"1","exp":4102444800,"iat":1700000000,"jti":"x"}"#)
    await #expect(throws: TokenRejection.invalid) { try await tokens.verify([parts[0], forged, parts[2]].joined(separator: ".")) }
}

@Test func algNoneIsRejectedBeforeVerification() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    let header = base64URL(#"{"alg":"none","typ":"JWT"}"#)
    let payload = base64URL(#"{"sub":"1","exp":4102444800,"iat":1700000000,"jti":"x"}"#)
    await #expect(throws: TokenRejection.wrongAlgorithm) { try await tokens.verify("\(header).\(payload).") }
}

@Test func otherHMACAlgorithmsAreRejected() async throws {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    let (token, _) = try await tokens.issue(userID: "42", signInID: nil)
    let parts = token.split(separator: ".").map(String.init)
    let header = base64URL(#"{"alg":"HS512","typ":"JWT"}"#)
    await #expect(throws: TokenRejection.wrongAlgorithm) { try await tokens.verify([header, parts[1], parts[2]].joined(separator: ".")) }
}

@Test(arguments: ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x", String(repeating: "a", count: 5000)])
func malformedTokensAreRejected(token: String) async {
    let tokens = await AccessTokens(secret: secret, lifetime: 900)
    await #expect(throws: TokenRejection.self) { try await tokens.verify(token) }
}
