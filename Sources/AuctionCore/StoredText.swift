/// The rules text must meet before it is stored. PostgreSQL refuses a NUL in `text`, and its
/// `length()` (our `CHECK`s) counts code points, while Swift's `count` counts grapheme clusters —
/// one flag emoji is one of ours and two of PostgreSQL's. Checking here, in PostgreSQL's units,
/// turns what would be a database error into a precise `400`.
public enum StoredText {
    /// The length PostgreSQL's `length()` reports.
    public static func length(_ text: String) -> Int {
        text.unicodeScalars.count
    }

    /// A control character (C0, DEL or C1); with `allowingLineBreaks`, tab, LF and CR are fine.
    public static func hasControlCharacter(_ text: String, allowingLineBreaks: Bool = false) -> Bool {
        text.unicodeScalars.contains { scalar in
            if allowingLineBreaks, scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
            return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
        }
    }

    /// Why `text` cannot be stored as a one-line field of `range` code points, or nil when it can.
    public static func problem(_ text: String, lengths range: ClosedRange<Int>, allowingLineBreaks: Bool = false) -> String? {
        if hasControlCharacter(text, allowingLineBreaks: allowingLineBreaks) {
            return text.unicodeScalars.contains("\u{0}") ? "must not contain NUL characters" : "must not contain control characters"
        }
        guard range.contains(length(text)) else {
            return range.lowerBound == 0
                ? "must be at most \(range.upperBound) characters (Unicode code points)"
                : "must be \(range.lowerBound) to \(range.upperBound) characters (Unicode code points)"
        }
        return nil
    }
}

/// What a password must be: 8 to 72 bytes of UTF-8 with no control characters. bcrypt reads at
/// most 72 bytes and stops at a NUL, so a longer password or one with a NUL would be cut short
/// without a word — `pass\u{0}word123` would become `pass`. Checked before hashing, at
/// registration and at sign-in alike.
public enum PasswordRules {
    public static let bytes = 8...72

    /// Why `password` is not acceptable, or nil.
    public static func problem(_ password: String) -> String? {
        if StoredText.hasControlCharacter(password) { return "must not contain NUL or other control characters" }
        guard bytes.contains(password.utf8.count) else { return "must be \(bytes.lowerBound) to \(bytes.upperBound) bytes of UTF-8" }
        return nil
    }
}
