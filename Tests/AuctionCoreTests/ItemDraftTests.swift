import Foundation
import Testing

@testable import AuctionCore

private let now = Date(timeIntervalSince1970: 1_800_000_000)

@Test func validDraftTrimsTheTitle() throws {
    let draft = try ItemDraft(title: "  Lamp ", description: "", startingPrice: 100, minIncrement: 10, endsAt: now.addingTimeInterval(60), now: now)
    #expect(draft.title == "Lamp")
}

@Test func draftFieldsAreChecked() {
    func field(_ make: () throws -> ItemDraft) -> String? {
        do {
            _ = try make()
            return nil
        } catch {
            return (error as? ItemDraftError)?.field ?? "not an ItemDraftError"
        }
    }
    let later = now.addingTimeInterval(60)
    #expect(field { try ItemDraft(title: " ", description: "", startingPrice: 1, minIncrement: 1, endsAt: later, now: now) } == "title")
    #expect(field { try ItemDraft(title: "a", description: String(repeating: "d", count: 5001), startingPrice: 1, minIncrement: 1, endsAt: later, now: now) } == "description")
    #expect(field { try ItemDraft(title: "a", description: "", startingPrice: 0, minIncrement: 1, endsAt: later, now: now) } == "startingPrice")
    #expect(field { try ItemDraft(title: "a", description: "", startingPrice: 1, minIncrement: 0, endsAt: later, now: now) } == "minIncrement")
    #expect(field { try ItemDraft(title: "a", description: "", startingPrice: 1, minIncrement: 1, endsAt: now, now: now) } == "endsAt")
    #expect(field { try ItemDraft(title: "a", description: "", startingPrice: 1, minIncrement: 1, endsAt: now.addingTimeInterval(400 * 86400), now: now) } == "endsAt")
}
