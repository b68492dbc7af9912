import Foundation
import Testing

@testable import AuctionServer

@Suite("Sign-ins in memory")
struct SignInStoreTests {
    let rules = SignInRules(lifetime: 3600, accessTokenLifetime: 900)
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func eachRefreshSpendsTheTokenAndHandsOutTheNext() async throws {
        let store = InMemorySignInStore(rules: rules)
        let first = try await store.start(userID: "7", now: start)
        guard case .rotated(let user, let second) = try await store.rotate(first, now: start + 60) else {
            Issue.record("not rotated")
            return
        }
        #expect(user == "7")
        #expect(second.signInID == first.signInID && second.secret != first.secret)
        guard case .rotated(_, let third) = try await store.rotate(second, now: start + 120) else {
            Issue.record("the next token was not accepted")
            return
        }
        #expect(third != second)
        #expect(try await store.isRevoked(signInID: first.signInID) == false)
    }

    @Test func theTokenSpentJustBeforeIsAnsweredWithTheCurrentOneWithinTheGrace() async throws {
        let store = InMemorySignInStore(rules: rules)
        let first = try await store.start(userID: "7", now: start)
        let rotated = try await store.rotate(first, now: start)
        let again = try await store.rotate(first, now: start + SignInRules.reuseGrace - 1)
        #expect(again == rotated)
    }

    @Test func aSpentTokenPastTheGraceEndsTheSignIn() async throws {
        let store = InMemorySignInStore(rules: rules)
        let first = try await store.start(userID: "7", now: start)
        guard case .rotated(_, let second) = try await store.rotate(first, now: start) else { return }
        #expect(try await store.rotate(first, now: start + SignInRules.reuseGrace + 1) == .reused(userID: "7"))
        #expect(try await store.isRevoked(signInID: first.signInID))
        #expect(try await store.rotate(second, now: start + 20) == .unknown)
    }

    @Test func aForgedSecretForAKnownSignInEndsIt() async throws {
        let store = InMemorySignInStore(rules: rules)
        let token = try await store.start(userID: "7", now: start)
        let forged = RefreshToken(signInID: token.signInID, secret: RefreshToken.randomPart())
        #expect(try await store.rotate(forged, now: start) == .reused(userID: "7"))
        #expect(try await store.rotate(token, now: start) == .unknown)
    }

    @Test func aSignInExpiresAfterItsLifetimeWithoutARefresh() async throws {
        let store = InMemorySignInStore(rules: rules)
        let token = try await store.start(userID: "7", now: start)
        #expect(try await store.rotate(token, now: start + rules.lifetime + 1) == .unknown)
    }

    @Test func endingAllEndsOnlyThatUsersSignIns() async throws {
        let store = InMemorySignInStore(rules: rules)
        let a = try await store.start(userID: "7", now: start)
        let b = try await store.start(userID: "7", now: start)
        let other = try await store.start(userID: "8", now: start)
        let ended = try await store.endAll(userID: "7", now: start)
        #expect(Set(ended) == [a.signInID, b.signInID])
        #expect(try await store.isRevoked(signInID: a.signInID))
        #expect(try await store.isRevoked(signInID: other.signInID) == false)
        #expect(try await store.rotate(a, now: start) == .unknown)
        if case .rotated = try await store.rotate(other, now: start) {} else { Issue.record("another user's sign-in ended") }
    }

    @Test func refreshTokensParseOnlyInTheirOwnShape() {
        let token = RefreshToken.make()
        #expect(RefreshToken(token.description) == token)
        for text in ["", ".", "abc.def", token.description.uppercased(), token.description + "0", token.signInID] {
            #expect(RefreshToken(text) == nil, "\(text)")
        }
    }
}
