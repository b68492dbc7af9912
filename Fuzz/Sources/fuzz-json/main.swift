import FuzzSupport
import FuzzSupportJSON
import SocketIO

// The JSON parser on any bytes: what it accepts must be UTF-8, nest no deeper than the limit, and
// come back from its own serialization as the same value (as `JSON.stringify` would write it:
// non-finite numbers as null), with serialization then stable.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    require(String(validating: bytes, as: UTF8.self) != nil, "accepted bytes that are not UTF-8: \(bytes)")
    require(depth(value) <= JSONParser.maximumDepth, "accepted nesting deeper than \(JSONParser.maximumDepth)")
    let text = value.jsonText
    guard let again = try? JSONParser.parse(text) else {
        require(false, "\(bytes) parsed to \(value), whose serialization \(text) does not parse")
        return 0
    }
    require(again == value.stringified, "\(bytes) parsed to \(value), re-parsed from \(text) as \(again)")
    require(again.jsonText == text, "serialization of \(bytes) is not stable: \(text), then \(again.jsonText)")
    return 0
}

func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let items): 1 + (items.map(depth).max() ?? 0)
    case .object(let members): 1 + (members.map { depth($0.value) }.max() ?? 0)
    default: 0
    }
}

/// The texts of JSONParserTests and SocketIOFuzzTests, accepted and rejected ones.
let seeds: [[UInt8]] =
    [
        "true", "false", "null", "-0", "1e400", "-1e400", "1e-400", "0", "-1.5e-3", "[1,-0.5,1e+21,1e-7,true,null]",
        #""\"\\\/\b\f\n\r\t""#, #""\u0041\u00e9\u00E9\u20AC\u0000""#, #""a\nb""#, #""""#, "\"héllo € 😀 \u{7F}\"",
        "\"\u{2028}\u{2029}\"", #""\ud83d\ude00""#, #""\uD800\uDC00\uDBFF\uDFFF""#, #""a\ud83d\ude00b""#, #""\ud800""#,
        #""\udc00""#, #""\ud800x""#, #""\ud800\u0041""#, #""\ud800\ud83d\ude00""#, #""\ude00\ud83d""#, "[]", "{}",
        #"[1,"a",true,null,[],{}]"#, #"{"a":{"b":[1,{"c":null}]}}"#, #"{"zeta":1,"alpha":2,"mid":3,"":4}"#,
        #"{"a":1,"b":2,"a":3}"#, #"{"a":1,"\u0061":2}"#, #"{"k":["é",1.25,false]}"#,
        #"{"sid":"oSO0OpakMV_3jnilAAAA"}"#, #"["baz",{"_placeholder":true,"num":0}]"#, #"{"a":{"b":[[],{}]}}"#,
        "[1,]", "{\"a\":1,}", "01", "-", "1.", "1e+", "Infinity", "tru", "\"\\u12\"", "\"a\nb\"", "{\"a\" 1}", "[1]x",
        "\u{FEFF}1", " [ 1 , { \"a\" : [ ] } ] ",
        String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth),
    ].map { Array($0.utf8) } + [[0x22, 0xFF, 0x22], [0x22, 0xC0, 0x80, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0x7F, 0x22]]
