import Foundation
import Testing

@testable import AuctionCore

@Suite("Stored text and password rules")
struct StoredTextTests {
    @Test func lengthsCountCodePointsAsPostgreSQLDoes() {
        let flag = "\u{1F1EB}\u{1F1F7}"
        #expect(flag.count == 1)
        #expect(StoredText.length(flag) == 2)
        #expect(StoredText.problem(String(repeating: flag, count: 50), lengths: 1...100) == nil)
        #expect(StoredText.problem(String(repeating: flag, count: 51), lengths: 1...100) != nil)
    }

    @Test(arguments: ["a\u{0}b", "\u{7}", "x\u{1F}", "\u{7F}", "\u{85}", "\u{9F}"])
    func controlCharactersAreRefused(text: String) {
        #expect(StoredText.hasControlCharacter(text))
        #expect(StoredText.problem(text, lengths: 0...10) != nil)
    }

    @Test func aNulIsNamedAsSuch() {
        #expect(StoredText.problem("a\u{0}", lengths: 0...10) == "must not contain NUL characters")
    }

    @Test func lineBreaksAreAllowedWhereAsked() {
        #expect(StoredText.problem("one\ntwo\r\n\tthree", lengths: 0...100, allowingLineBreaks: true) == nil)
        #expect(StoredText.problem("one\ntwo", lengths: 0...100) != nil)
        #expect(StoredText.problem("nul\u{0}", lengths: 0...100, allowingLineBreaks: true) != nil)
    }

    @Test(arguments: ["pass\u{0}word123", "password\u{7}", "password\n", "password\u{85}"])
    func passwordsWithControlCharactersAreRefused(password: String) {
        #expect(PasswordRules.problem(password) != nil)
    }

    @Test func passwordLengthsAreBytesOfUTF8() {
        #expect(PasswordRules.problem(String(repeating: "x", count: 72)) == nil)
        #expect(PasswordRules.problem(String(repeating: "x", count: 73)) != nil)
        #expect(PasswordRules.problem(String(repeating: "é", count: 36)) == nil)  // 72 bytes
        #expect(PasswordRules.problem(String(repeating: "é", count: 37)) != nil)  // 74 bytes
        #expect(PasswordRules.problem("seven77") != nil)
    }

    @Test func itemDraftsAndBidsUseTheSameRules() {
        let now = Date(timeIntervalSince1970: 0)
        #expect(throws: ItemDraftError.self) {
            try ItemDraft(title: "nul\u{0}", description: "", startingPrice: 1, minIncrement: 1, endsAt: now + 60, now: now)
        }
        #expect(throws: ItemDraftError.self) {
            try ItemDraft(title: "ok", description: "nul\u{0}", startingPrice: 1, minIncrement: 1, endsAt: now + 60, now: now)
        }
        #expect(throws: BidRejection.self) {
            try BidRequest(itemId: "1", price: 5, clientBidId: "nul\u{0}", expectedItemId: "1")
        }
        #expect(throws: BidRejection.self) {
            try BidRequest(itemId: "1", price: 5, clientBidId: String(repeating: "\u{1F1EB}\u{1F1F7}", count: 33), expectedItemId: "1")
        }
    }
}
