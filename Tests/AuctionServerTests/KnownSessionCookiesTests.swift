import Foundation
import Testing

@testable import AuctionServer

@Suite("Known session cookies")
struct KnownSessionCookiesTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aRememberedCookieNamesItsUserUntilItExpires() {
        let known = KnownSessionCookies(lifetime: 60)
        known.remember("c1", userID: "7", now: start)
        #expect(known.userID(for: "c1", now: start + 59) == "7")
        #expect(known.userID(for: "c1", now: start + 60) == nil)
        #expect(known.userID(for: "unknown", now: start) == nil)
    }

    @Test func pastTheCapacityTheOldestGoFirst() {
        let known = KnownSessionCookies(lifetime: 60, capacity: 3)
        for n in 1...5 { known.remember("c\(n)", userID: "u\(n)", now: start) }
        #expect(known.count == 3)
        #expect(known.userID(for: "c1", now: start) == nil && known.userID(for: "c2", now: start) == nil)
        #expect(known.userID(for: "c5", now: start) == "u5")
    }

    @Test func rememberingACookieAgainMovesItToTheBackOfTheLine() {
        let known = KnownSessionCookies(lifetime: 60, capacity: 2)
        known.remember("a", userID: "1", now: start)
        known.remember("b", userID: "2", now: start)
        known.remember("a", userID: "1", now: start)
        known.remember("c", userID: "3", now: start)
        #expect(known.userID(for: "a", now: start) == "1")
        #expect(known.userID(for: "b", now: start) == nil)
    }

    @Test func aForgottenCookieNamesNobody() {
        let known = KnownSessionCookies(lifetime: 60)
        known.remember("c", userID: "7", now: start)
        known.forget("c")
        #expect(known.userID(for: "c", now: start) == nil)
    }
}
