import Foundation

/// Splits a migration file into statements: at `;` outside quotes, dollar-quoted bodies and
/// comments. Comments are dropped.
enum SQLScript {
    static func statements(in script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var chars = Array(script)
        chars.append("\n")
        var index = 0
        var inQuote: Character?
        var dollarTag: String?
        while index < chars.count {
            let char = chars[index]
            if let tag = dollarTag {
                if char == "$", String(chars[index..<min(chars.count, index + tag.count)]) == tag {
                    current += tag
                    index += tag.count
                    dollarTag = nil
                    continue
                }
                current.append(char)
            } else if let quote = inQuote {
                current.append(char)
                if char == quote { inQuote = nil }
            } else if char == "-", index + 1 < chars.count, chars[index + 1] == "-" {
                while index < chars.count, chars[index] != "\n" { index += 1 }
                current.append("\n")
            } else if char == "'" || char == "\"" {
                inQuote = char
                current.append(char)
            } else if char == "$", let end = chars[(index + 1)...].firstIndex(of: "$"),
                chars[(index + 1)..<end].allSatisfy({ $0.isLetter || $0 == "_" })
            {
                let tag = String(chars[index...end])
                dollarTag = tag
                current += tag
                index = end + 1
                continue
            } else if char == ";" {
                let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { statements.append(trimmed) }
                current = ""
            } else {
                current.append(char)
            }
            index += 1
        }
        let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { statements.append(trimmed) }
        return statements
    }
}
