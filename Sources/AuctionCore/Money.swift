/// An amount of money in the smallest unit of the currency (cents). Never a float.
public typealias Money = Int64

public enum MoneyLimits {
    /// The largest price we accept: below 2^53 so JavaScript clients read it exactly.
    public static let maximum: Money = 9_007_199_254_740_991
}
