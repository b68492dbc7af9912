import NIOCore
import Testing
import TestSupport

@testable import SocketIO

/// `jsonText` must produce what JavaScript's `JSON.stringify` produces for the same value.
@Suite("JSON serialization")
struct JSONSerializationTests {
    // MARK: Numbers

    /// Expected strings are what `String(x)` / `JSON.stringify(x)` give in JavaScript.
    @Test(arguments: [
        (0, "0"), (-0.0, "0"), (1, "1"), (-1, "-1"), (42, "42"), (1e15, "1000000000000000"),
        (9_007_199_254_740_992, "9007199254740992"), (-9_007_199_254_740_992, "-9007199254740992"),
        (1e18, "1000000000000000000"), (123_456_789_012, "123456789012"),
        (0.1, "0.1"), (0.5, "0.5"), (-2.5, "-2.5"), (3.14159, "3.14159"), (0.1 + 0.2, "0.30000000000000004"),
        (123.456, "123.456"), (1.5, "1.5"), (100.25, "100.25"), (0.001, "0.001"), (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (1e21, "1e+21"), (-1e21, "-1e+21"), (1.5e21, "1.5e+21"), (1e300, "1e+300"), (1.2345e22, "1.2345e+22"),
        (1e-7, "1e-7"), (-1e-7, "-1e-7"), (1.5e-7, "1.5e-7"), (1e-100, "1e-100"), (.leastNonzeroMagnitude, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"), (2.5e-10, "2.5e-10"),
    ] as [(Double, String)])
    func numbersAsJavaScriptPrintsThem(value: Double, text: String) {
        #expect(JSONValue.number(value).jsonText == text)
    }

    @Test func nonFiniteNumbersAreNull() {
        #expect(JSONValue.number(.nan).jsonText == "null")
        #expect(JSONValue.number(.infinity).jsonText == "null")
        #expect(JSONValue.number(-.infinity).jsonText == "null")
        #expect(JSONValue.array([.number(.nan), 1]).jsonText == "[null,1]")
    }

    /// JavaScript prints numbers from 1e-6 up to 1e21 in plain decimal notation, where Swift's
    /// `description` would already use an exponent.
    @Test(
        arguments: [
            (1e-6, "0.000001"), (-1e-6, "-0.000001"), (1.5e-6, "0.0000015"), (1e-5, "0.00001"), (2e-5, "0.00002"),
            (9.5e-5, "0.000095"), (9.3e18, "9300000000000000000"), (1e19, "10000000000000000000"),
            (-1e19, "-10000000000000000000"), (1e20, "100000000000000000000"),
            (9_223_372_036_854_775_808, "9223372036854776000"),
        ] as [(Double, String)]
    )
    func numbersJavaScriptPrintsWithoutExponent(value: Double, text: String) {
        #expect(JSONValue.number(value).jsonText == text)
    }

    // MARK: Strings

    @Test func escapesQuoteAndBackslashOnly() {
        #expect(JSONValue.string(#"say "hi" \ / '"#).jsonText == #""say \"hi\" \\ / '""#)
        #expect(JSONValue.string("").jsonText == #""""#)
    }

    @Test func escapesEveryControlCharacterAsJavaScriptDoes() {
        let short: [UInt32: String] = [0x08: #"\b"#, 0x09: #"\t"#, 0x0A: #"\n"#, 0x0C: #"\f"#, 0x0D: #"\r"#]
        for value in UInt32(0)..<0x20 {
            let hex = String(value, radix: 16)
            let expected = short[value] ?? "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            let text = JSONValue.string(String(Character(Unicode.Scalar(value)!))).jsonText
            #expect(text == "\"" + expected + "\"", "U+\(hex)")
        }
        #expect(JSONValue.string("\u{1F}").jsonText == #""\u001f""#)
        #expect(JSONValue.string("\u{0}").jsonText == #""\u0000""#)
        #expect(JSONValue.string("\u{0B}").jsonText == #""\u000b""#)
    }

    @Test func leavesNonASCIIAndDELAsTheyAre() {
        #expect(JSONValue.string("é€😀\u{7F}\u{2028}\u{2029}\u{FFFD}").jsonText == "\"é€😀\u{7F}\u{2028}\u{2029}\u{FFFD}\"")
    }

    // MARK: Structure

    @Test func literalsAndContainers() {
        #expect(JSONValue.null.jsonText == "null")
        #expect(JSONValue.bool(true).jsonText == "true")
        #expect(JSONValue.bool(false).jsonText == "false")
        #expect(JSONValue.array([]).jsonText == "[]")
        #expect(JSONValue.object([]).jsonText == "{}")
        let nested: JSONValue = ["b": [1, "two", nil, true, ["x": []]], "a": .object([]), "\n": 0.5]
        #expect(nested.jsonText == #"{"b":[1,"two",null,true,{"x":[]}],"a":{},"\n":0.5}"#)
    }

    @Test func keyOrderIsKept() {
        let value = JSONValue.object([
            JSONMember(key: "z", value: 1), JSONMember(key: "a", value: 2), JSONMember(key: "m", value: 3),
        ])
        #expect(value.jsonText == #"{"z":1,"a":2,"m":3}"#)
    }

    @Test func leftoverBinaryIsNull() {
        let value: JSONValue = ["file", .binary(ByteBuffer(bytes: [1, 2])), ["b": .binary(ByteBuffer())]]
        #expect(value.jsonText == #"["file",null,{"b":null}]"#)
    }

    @Test func parsedTextSerializesBackToItself() throws {
        let texts = [
            #"{"sid":"oSO0OpakMV_3jnilAAAA"}"#, #"["baz",{"_placeholder":true,"num":0}]"#,
            #"[1,-1,0.5,1e+21,1e-7,"\u0000\n\"\\",null,false,{"":{}}]"#, #"{"b":1,"a":[[[]]]}"#,
        ]
        for text in texts {
            #expect(try JSONParser.parse(text).jsonText == text)
        }
    }

    @Test func randomValuesRoundTripThroughTheParser() throws {
        var random = SplitMix64(seed: 0x15_0A)
        for round in 0..<2_000 {
            let value = RandomJSON.value(depth: 4, using: &random)
            let text = value.jsonText
            #expect(try JSONParser.parse(text) == value, "round \(round): \(text)")
        }
    }
}

/// Random finite JSON values with unique keys, for round trip tests.
enum RandomJSON {
    static func number(using random: inout SplitMix64) -> Double {
        switch Int.random(in: 0..<5, using: &random) {
        case 0: return Double(Int.random(in: -1000...1000, using: &random))
        case 1: return Double(Int64.random(in: -(1 << 53)...(1 << 53), using: &random))
        case 2: return Double.random(in: -1...1, using: &random)
        case 3:
            // Any finite bit pattern: subnormals, huge and tiny magnitudes.
            let exponent = UInt64.random(in: 0..<0x7FF, using: &random) << 52
            return Double(bitPattern: (random.next() & ~(UInt64(0x7FF) << 52)) | exponent)
        default: return Double.random(in: -1e30...1e30, using: &random)
        }
    }

    static func value(depth: Int, using random: inout SplitMix64) -> JSONValue {
        let kinds = depth > 0 ? 7 : 5
        switch Int.random(in: 0..<kinds, using: &random) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2, 3: return .number(number(using: &random))
        case 4: return .string(random.text(count: Int.random(in: 0...8, using: &random)))
        case 5:
            return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in value(depth: depth - 1, using: &random) })
        default:
            var members: [JSONMember] = []
            for index in 0..<Int.random(in: 0...4, using: &random) {
                let key = random.text(count: Int.random(in: 0...4, using: &random)) + "#\(index)"
                members.append(JSONMember(key: key, value: value(depth: depth - 1, using: &random)))
            }
            return .object(members)
        }
    }
}
