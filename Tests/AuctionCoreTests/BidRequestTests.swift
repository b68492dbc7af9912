import Testing

@testable import AuctionCore

@Test func validBidRequest() throws {
    let request = try BidRequest(itemId: "5", price: 1500, clientBidId: "tab-1-17", expectedItemId: "5")
    #expect(request.price == 1500)
    #expect(request.clientBidId == "tab-1-17")
}

@Test(arguments: [
    (String?.none, Double?.some(10), String?.none, "5"),
    ("", 10, nil, "5"),
    ("6", 10, nil, "5"),
    ("5", nil, nil, "5"),
    ("5", 10.5, nil, "5"),
    ("5", 0, nil, "5"),
    ("5", -3, nil, "5"),
    ("5", .infinity, nil, "5"),
    ("5", .nan, nil, "5"),
    ("5", 1e300, nil, "5"),
    ("5", 10, "", "5"),
    ("5", 10, String(repeating: "x", count: 65), "5"),
])
func invalidBidRequestsAreRejected(itemId: String?, price: Double?, clientBidId: String?, expected: String) {
    #expect(throws: BidRejection.self) {
        try BidRequest(itemId: itemId, price: price, clientBidId: clientBidId, expectedItemId: expected)
    }
    do {
        _ = try BidRequest(itemId: itemId, price: price, clientBidId: clientBidId, expectedItemId: expected)
    } catch {
        #expect(error.code == "INVALID_PAYLOAD")
    }
}
