import Foundation

/// Why a new auction was refused: the field and what is wrong with it.
public struct ItemDraftError: Error, Sendable, Equatable {
    public var field: String
    public var reason: String
}

/// A new auction as a seller describes it, after validation.
public struct ItemDraft: Sendable, Equatable {
    public static let maximumDuration: TimeInterval = 365 * 24 * 3600

    public var title: String
    public var description: String
    public var startingPrice: Money
    public var minIncrement: Money
    public var endsAt: Date

    public init(title: String, description: String, startingPrice: Money, minIncrement: Money, endsAt: Date, now: Date) throws(ItemDraftError) {
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = StoredText.problem(title, lengths: 1...200) { throw ItemDraftError(field: "title", reason: problem) }
        if let problem = StoredText.problem(description, lengths: 0...5000, allowingLineBreaks: true) {
            throw ItemDraftError(field: "description", reason: problem)
        }
        guard startingPrice >= 1, startingPrice <= MoneyLimits.maximum else {
            throw ItemDraftError(field: "startingPrice", reason: "must be a whole number from 1 to \(MoneyLimits.maximum)")
        }
        guard minIncrement >= 1, minIncrement <= MoneyLimits.maximum else {
            throw ItemDraftError(field: "minIncrement", reason: "must be a whole number from 1 to \(MoneyLimits.maximum)")
        }
        guard endsAt > now else { throw ItemDraftError(field: "endsAt", reason: "must be in the future") }
        guard endsAt.timeIntervalSince(now) <= Self.maximumDuration else {
            throw ItemDraftError(field: "endsAt", reason: "must be within a year")
        }
        self.title = title
        self.description = description
        self.startingPrice = startingPrice
        self.minIncrement = minIncrement
        self.endsAt = endsAt
    }
}
