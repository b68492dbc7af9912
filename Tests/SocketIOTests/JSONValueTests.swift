import NIOCore
import Testing

@testable import SocketIO

@Suite("JSON value")
struct JSONValueTests {
    @Test func literalsBuildTheExpectedCases() {
        let value: JSONValue = ["s": "x", "i": 3, "d": 1.5, "b": true, "n": nil, "a": [1]]
        #expect(
            value
                == .object([
                    JSONMember(key: "s", value: .string("x")), JSONMember(key: "i", value: .number(3)),
                    JSONMember(key: "d", value: .number(1.5)), JSONMember(key: "b", value: .bool(true)),
                    JSONMember(key: "n", value: .null), JSONMember(key: "a", value: .array([.number(1)])),
                ]))
        #expect(JSONValue.object(["k": 1, "j": 2]) == .object([JSONMember(key: "k", value: 1), JSONMember(key: "j", value: 2)]))
    }

    @Test func subscripts() {
        let value: JSONValue = ["a": [10, 20], "a2": "x"]
        #expect(value["a"] == [10, 20])
        #expect(value["a"]?[1] == 20)
        #expect(value["a"]?[2] == nil)
        #expect(value["a"]?[-1] == nil)
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(JSONValue.string("s")["a"] == nil)
    }

    @Test func accessors() {
        #expect(JSONValue.string("s").stringValue == "s")
        #expect(JSONValue.number(1).stringValue == nil)
        #expect(JSONValue.number(2.5).numberValue == 2.5)
        #expect(JSONValue.bool(false).boolValue == false)
        #expect(JSONValue.null.boolValue == nil)
        #expect(JSONValue.array([1]).arrayValue == [1])
        #expect(JSONValue.object([]).arrayValue == nil)
        #expect(JSONValue.object([]).isObject)
        #expect(!JSONValue.array([]).isObject)
    }

    @Test func integerValueOnlyForExactSafeIntegers() {
        #expect(JSONValue.number(42).integerValue == 42)
        #expect(JSONValue.number(-7).integerValue == -7)
        #expect(JSONValue.number(0).integerValue == 0)
        #expect(JSONValue.number(9_007_199_254_740_991).integerValue == 9_007_199_254_740_991)
        #expect(JSONValue.number(9_007_199_254_740_992).integerValue == nil)
        #expect(JSONValue.number(1.5).integerValue == nil)
        #expect(JSONValue.number(.nan).integerValue == nil)
        #expect(JSONValue.number(.infinity).integerValue == nil)
        #expect(JSONValue.string("1").integerValue == nil)
    }

    @Test func containsBinaryLooksEverywhere() {
        let bytes = JSONValue.binary(ByteBuffer(bytes: [1]))
        #expect(bytes.containsBinary)
        #expect(JSONValue.array([1, ["a": [nil, bytes]]]).containsBinary)
        #expect(!JSONValue.array([1, ["a": [nil, "b"]]]).containsBinary)
        #expect(!JSONValue.null.containsBinary)
    }
}
