import Foundation
import Testing

@testable import AuctionCore

private let end = Date(timeIntervalSince1970: 1_800_000_000)

@Test func bidInTheLastThirtySecondsExtends() {
    let acceptedAt = end.addingTimeInterval(-10)
    #expect(SoftClose.extendedEnd(endsAt: end, acceptedAt: acceptedAt) == acceptedAt.addingTimeInterval(30))
}

@Test func bidEarlierThanTheWindowDoesNotExtend() {
    #expect(SoftClose.extendedEnd(endsAt: end, acceptedAt: end.addingTimeInterval(-31)) == nil)
    #expect(SoftClose.extendedEnd(endsAt: end, acceptedAt: end.addingTimeInterval(-30)) == nil)
}

@Test func repeatedLateBidsKeepExtending() {
    var endsAt = end
    for offset in [-5.0, 20, 45] {
        let acceptedAt = end.addingTimeInterval(offset)
        let next = SoftClose.extendedEnd(endsAt: endsAt, acceptedAt: acceptedAt)
        #expect(next == acceptedAt.addingTimeInterval(30))
        endsAt = next ?? endsAt
    }
    #expect(endsAt == end.addingTimeInterval(75))
}
