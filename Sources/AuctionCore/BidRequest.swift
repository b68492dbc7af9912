/// A bid as a client asks for it, after validation.
public struct BidRequest: Sendable, Equatable {
    public static let maximumClientBidIDLength = 64

    public var itemId: String
    public var price: Money
    /// Chosen by the client so a retry is recognised and answered with the first result.
    public var clientBidId: String?

    /// Validates the fields a client sent; `price` must be a whole number.
    public init(itemId: String?, price: Double?, clientBidId: String?, expectedItemId: String) throws(BidRejection) {
        guard let itemId, !itemId.isEmpty else { throw .invalidPayload("itemId is required") }
        guard itemId == expectedItemId else { throw .invalidPayload("itemId does not match this auction room") }
        guard let price else { throw .invalidPayload("price must be a number") }
        guard price.isFinite, price == price.rounded() else { throw .invalidPayload("price must be a whole number of the smallest unit") }
        guard price >= 1, price <= Double(MoneyLimits.maximum) else { throw .invalidPayload("price is out of range") }
        if let clientBidId {
            if let problem = StoredText.problem(clientBidId, lengths: 1...Self.maximumClientBidIDLength) {
                throw .invalidPayload("clientBidId \(problem)")
            }
        }
        self.itemId = itemId
        self.price = Money(price)
        self.clientBidId = clientBidId
    }
}
