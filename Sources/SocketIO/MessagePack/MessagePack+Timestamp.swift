
/// A timestamp becomes what a Node receiver's clients would see: notepack decodes it to a `Date`,
/// and socket.io-parser's `JSON.stringify` turns that into `toISOString()` text such as
/// `"2000-06-13T00:00:00.000Z"`, or into `null` when the `Date` is out of range (invalid).
extension MessagePack {
    /// A JavaScript `Date` holds whole milliseconds within ±8.64e15 of the epoch.
    static let javaScriptDateLimit: Int64 = 8_640_000_000_000_000

    /// Sub-millisecond parts are dropped towards the past, so a timestamp always lands on the
    /// millisecond that contains it. For every timestamp notepack writes (a `Date` has whole
    /// milliseconds) this is exactly the `Date` it would read.
    static func javaScriptDate(seconds: Int64, nanoseconds: UInt32) -> JSONValue {
        // Checked first so that seconds * 1000 cannot overflow.
        let secondsLimit = javaScriptDateLimit / 1000 + 1
        guard seconds >= -secondsLimit, seconds <= secondsLimit else { return .null }
        return javaScriptDate(milliseconds: seconds * 1000 + Int64(nanoseconds / 1_000_000))
    }

    static func javaScriptDate(milliseconds: Int64) -> JSONValue {
        guard milliseconds >= -javaScriptDateLimit, milliseconds <= javaScriptDateLimit else { return .null }
        return .string(isoString(milliseconds: milliseconds))
    }

    /// `Date.prototype.toISOString`: four-digit years, or a sign and six digits outside 0…9999.
    static func isoString(milliseconds: Int64) -> String {
        let millisecondsPerDay: Int64 = 86_400_000
        var days = milliseconds / millisecondsPerDay
        var timeOfDay = milliseconds % millisecondsPerDay
        if timeOfDay < 0 {
            days -= 1
            timeOfDay += millisecondsPerDay
        }
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let yearText =
            (0...9999).contains(year)
            ? padded(year, width: 4)
            : (year < 0 ? "-" : "+") + padded(abs(year), width: 6)
        return yearText + "-" + padded(month, width: 2) + "-" + padded(day, width: 2)
            + "T" + padded(timeOfDay / 3_600_000, width: 2)
            + ":" + padded(timeOfDay / 60_000 % 60, width: 2)
            + ":" + padded(timeOfDay / 1000 % 60, width: 2)
            + "." + padded(timeOfDay % 1000, width: 3) + "Z"
    }

    /// Proleptic Gregorian date of a day count, by Howard Hinnant's `civil_from_days`, which works
    /// in 400-year eras so that it is exact for negative days as well.
    private static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = daysSinceEpoch + 719_468  // days from 0000-03-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func padded(_ value: Int64, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
