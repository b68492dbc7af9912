import Foundation

/// Soft close: a bid accepted in the last 30 s moves the end to 30 s after that bid, so nobody
/// wins by sniping in the final second.
public enum SoftClose {
    public static let window: TimeInterval = 30

    /// The new end when a bid accepted at `acceptedAt` extends the auction, else nil.
    public static func extendedEnd(endsAt: Date, acceptedAt: Date) -> Date? {
        let proposed = acceptedAt.addingTimeInterval(window)
        return proposed > endsAt ? proposed : nil
    }
}
