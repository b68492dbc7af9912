import Testing

@testable import SocketIO

@Suite("JSON parser")
struct JSONParserTests {
    private func parseError(_ text: String) -> JSONParseError? {
        parseError(Array(text.utf8))
    }

    private func parseError(_ bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONParser.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Accepted

    @Test func literals() throws {
        #expect(try JSONParser.parse("true") == .bool(true))
        #expect(try JSONParser.parse("false") == .bool(false))
        #expect(try JSONParser.parse("null") == .null)
    }

    @Test(arguments: [
        ("0", 0.0), ("-0", -0.0), ("1", 1), ("-1", -1), ("42", 42), ("1.5", 1.5), ("-0.25", -0.25),
        ("1e3", 1000), ("1E3", 1000), ("1e+3", 1000), ("1e-3", 0.001), ("0.5e1", 5), ("-0e0", 0),
        ("123456789012345", 123_456_789_012_345), ("9007199254740993", 9_007_199_254_740_992),
        ("0.1", 0.1), ("1.7976931348623157e308", 1.7976931348623157e308), ("5e-324", .leastNonzeroMagnitude),
        ("10.0", 10),
    ] as [(String, Double)])
    func numbers(text: String, value: Double) throws {
        #expect(try JSONParser.parse(text) == .number(value))
    }

    @Test func negativeZeroKeepsItsSign() throws {
        let value = try JSONParser.parse("-0").numberValue
        #expect(value?.sign == .minus)
    }

    @Test func outOfRangeNumbersBecomeInfinityOrZeroAsInJavaScript() throws {
        #expect(try JSONParser.parse("1e400") == .number(.infinity))
        #expect(try JSONParser.parse("-1e400") == .number(-.infinity))
        #expect(try JSONParser.parse("1e-400") == .number(0))
    }

    @Test func stringEscapes() throws {
        #expect(try JSONParser.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONParser.parse(#""\u0041\u00e9\u00E9\u20AC\u0000""#) == .string("Aéé€\u{0}"))
        #expect(try JSONParser.parse(#""a\nb""#) == .string("a\nb"))
        #expect(try JSONParser.parse(#""""#) == .string(""))
    }

    @Test func rawUTF8InStrings() throws {
        #expect(try JSONParser.parse("\"héllo € 😀 \u{7F}\"") == .string("héllo € 😀 \u{7F}"))
        #expect(try JSONParser.parse("\"\u{2028}\u{2029}\"") == .string("\u{2028}\u{2029}"))
    }

    @Test func surrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONParser.parse(#""\uD800\uDC00\uDBFF\uDFFF""#) == .string("\u{10000}\u{10FFFF}"))
        #expect(try JSONParser.parse(#""a\ud83d\ude00b""#) == .string("a😀b"))
    }

    @Test func loneSurrogatesBecomeReplacementCharacters() throws {
        #expect(try JSONParser.parse(#""\ud800""#) == .string("\u{FFFD}"))
        #expect(try JSONParser.parse(#""\udc00""#) == .string("\u{FFFD}"))
        #expect(try JSONParser.parse(#""\ud800x""#) == .string("\u{FFFD}x"))
        // A high surrogate followed by an escape that is not a low one: both are kept apart.
        #expect(try JSONParser.parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try JSONParser.parse(#""\ud800\ud83d\ude00""#) == .string("\u{FFFD}😀"))
        #expect(try JSONParser.parse(#""\ude00\ud83d""#) == .string("\u{FFFD}\u{FFFD}"))
    }

    @Test func arraysAndObjects() throws {
        #expect(try JSONParser.parse("[]") == .array([]))
        #expect(try JSONParser.parse("{}") == .object([]))
        #expect(try JSONParser.parse(#"[1,"a",true,null,[],{}]"#) == [1, "a", true, nil, [], .object([])])
        #expect(try JSONParser.parse(#"{"a":{"b":[1,{"c":null}]}}"#) == ["a": ["b": [1, ["c": nil]]]])
    }

    @Test func whitespaceAroundTokens() throws {
        let text = " \t\n\r{ \"a\" : [ 1 , 2 ] ,\n\"b\"\t:\r\"x\" } \r\n"
        #expect(try JSONParser.parse(text) == ["a": [1, 2], "b": "x"])
    }

    @Test func objectKeyOrderIsPreserved() throws {
        let value = try JSONParser.parse(#"{"zeta":1,"alpha":2,"mid":3,"":4}"#)
        guard case .object(let members) = value else {
            Issue.record("not an object: \(value)")
            return
        }
        #expect(members.map(\.key) == ["zeta", "alpha", "mid", ""])
        #expect(members.map(\.value) == [1, 2, 3, 4])
    }

    @Test func duplicateKeysKeepTheFirstPositionAndTheLastValue() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value == .object([JSONMember(key: "a", value: 3), JSONMember(key: "b", value: 2)]))
        #expect(value["a"] == 3)
    }

    @Test func keysAreComparedAfterUnescaping() throws {
        let value = try JSONParser.parse(#"{"a":1,"\u0061":2}"#)
        #expect(value == .object([JSONMember(key: "a", value: 2)]))
    }

    @Test func stringAndBytesEntryPointsAgree() throws {
        let text = #"{"k":["é",1.25,false]}"#
        #expect(try JSONParser.parse(text) == JSONParser.parse(Array(text.utf8)))
    }

    // MARK: Rejected

    @Test(arguments: [
        "", " ", "\n",
        // trailing and stray commas
        "[1,]", "{\"a\":1,}", "[,1]", "[1,,2]", "{,}", ",",
        // leading zeros and malformed numbers
        "01", "00", "-01", "[01]", "{\"a\":00}", "-", "-a", "[-]", "1.", "1.e3", ".5", "1e", "1e+", "1E-", "+1",
        "0x10", "1_000", "Infinity", "-Infinity", "NaN", "1 2",
        // literals
        "tru", "nul", "fals", "True", "NULL", "nulll", "truefalse",
        // strings
        "\"abc", "\"", "\"\\", "\"\\\"", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"", "'a'",
        "\"a\nb\"", "\"\t\"", "\"\u{0}\"", "\"\u{1F}\"",
        // structure
        "[", "]", "{", "}", "[1", "[1 2]", "{\"a\"}", "{\"a\" 1}", "{\"a\":}", "{\"a\":", "{a:1}", "{'a':1}",
        "{1:1}", "[1]]", "{}}", "{\"a\":1\"b\":2}", "[1]x", "\u{FEFF}1",
    ])
    func rejects(text: String) {
        #expect(parseError(text) != nil)
    }

    @Test func rejectsEveryControlCharacterInsideStrings() {
        for byte in UInt8(0)..<0x20 {
            #expect(parseError([0x22, 0x61, byte, 0x62, 0x22]) != nil, "byte \(byte)")
        }
        // DEL is not a control character for JSON.
        #expect(parseError([0x22, 0x7F, 0x22]) == nil)
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0x5C, 0x6E, 0xE2, 0x82, 0x22], [0xC3, 0xA9],
        [0x5B, 0xFF, 0x5D],
    ] as [[UInt8]])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(parseError(bytes) != nil)
    }

    @Test func errorsCarryTheOffsetOfTheProblem() {
        #expect(parseError("[1,]")?.offset == 3)
        #expect(parseError("01")?.offset == 1)
        #expect(parseError("{\"a\":1,}")?.offset == 7)
        #expect(parseError("\"ab\u{1}\"")?.offset == 3)
        #expect(parseError("[1] x")?.offset == 4)
    }

    // MARK: Nesting limit

    @Test func acceptsNestingUpToTheMaximumDepth() throws {
        let depth = JSONParser.maximumDepth
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: Never.self) { try JSONParser.parse(arrays) }

        let objects = String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(throws: Never.self) { try JSONParser.parse(objects) }
    }

    @Test func rejectsNestingDeeperThanTheMaximum() {
        let depth = JSONParser.maximumDepth + 1
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(parseError(arrays)?.reason == "nesting too deep")

        let objects = String(repeating: "{\"a\":", count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(parseError(objects)?.reason == "nesting too deep")

        let mixed = String(repeating: "[{\"a\":", count: depth / 2 + 1) + "1" + String(repeating: "}]", count: depth / 2 + 1)
        #expect(parseError(mixed)?.reason == "nesting too deep")
    }

    @Test func hugeNestingFailsWithoutExhaustingTheStack() {
        #expect(parseError(String(repeating: "[", count: 1_000_000))?.reason == "nesting too deep")
        #expect(parseError(String(repeating: "{\"\":", count: 200_000))?.reason == "nesting too deep")
    }

    @Test func depthIsCountedPerPathNotInTotal() throws {
        let sibling = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let text = "[" + Array(repeating: sibling, count: 10).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try JSONParser.parse(text) }
    }
}
