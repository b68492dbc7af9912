/// Who one auction tab is: a browser tab of bench user `user`, signed in as `userID`.
struct AuctionTab: Sendable {
    var user: Int
    var tab: Int
    var userID: String
    var userName: String
    var itemID: String
    /// Part of every `clientBidId`, so a rerun against the same database is not answered with
    /// the replayed bids of an earlier run.
    var runNonce: String

    func clientBidID(_ seq: Int) -> String { "\(runNonce)-u\(user)-t\(tab)-\(seq)" }
}
