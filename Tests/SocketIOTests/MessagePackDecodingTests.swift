import NIOCore
import Testing

@testable import SocketIO

/// Every format a foreign encoder may use, also the larger-than-needed ones notepack never writes.
@Suite("MessagePack decoding")
struct MessagePackDecodingTests {
    static let numbers: [(String, Double)] = [
        ("05", 5), ("7f", 127), ("e0", -32), ("ff", -1),
        ("cc05", 5), ("ccff", 255),
        ("cd0005", 5), ("cdffff", 65535),
        ("ce00000005", 5), ("ceffffffff", 4_294_967_295),
        ("cf0000000000000005", 5), ("cf0020000000000000", 9_007_199_254_740_992),
        ("d005", 5), ("d0ff", -1), ("d080", -128),
        ("d1ffff", -1), ("d18000", -32768),
        ("d2ffffffff", -1), ("d280000000", -2_147_483_648),
        ("d3ffffffffffffffff", -1), ("d38000000000000000", -9_223_372_036_854_775_808),
        ("cb3ff8000000000000", 1.5), ("cb8000000000000000", -0.0),
        ("ca3fc00000", 1.5), ("cabf800000", -1), ("ca7f800000", .infinity), ("caff800000", -.infinity),
        ("ca3dcccccd", Double(Float(0.1))), ("ca00000001", Double(Float.leastNonzeroMagnitude)),
    ]

    @Test(arguments: numbers)
    func numbersOfEveryWidth(hex: String, number: Double) throws {
        #expect(try MessagePackFixture.decode(hex) == .number(number))
    }

    @Test func float32NaNIsNaN() throws {
        #expect(try MessagePackFixture.decode("ca7fc00000").numberValue?.isNaN == true)
        #expect(try MessagePackFixture.decode("cb7ff8000000000000").numberValue?.isNaN == true)
    }

    /// JavaScript reads a 64-bit integer into a double, so beyond 2^53 it rounds to the nearest one.
    @Test func sixtyFourBitIntegersLosePrecisionAsInJavaScript() throws {
        #expect(try MessagePackFixture.decode("cf0020000000000001") == .number(9_007_199_254_740_992))
        #expect(try MessagePackFixture.decode("cf0020000000000003") == .number(9_007_199_254_740_996))
        #expect(try MessagePackFixture.decode("cfffffffffffffffff") == .number(18_446_744_073_709_551_616))
        #expect(try MessagePackFixture.decode("d37fffffffffffffff") == .number(9_223_372_036_854_775_808))
        #expect(try MessagePackFixture.decode("d3ffdfffffffffffff") == .number(-9_007_199_254_740_992))
    }

    static let strings: [(String, String)] = [
        ("a0", ""), ("a3616263", "abc"), ("d903616263", "abc"), ("da0003616263", "abc"),
        ("db00000003616263", "abc"), ("d900", ""), ("a2c3a9", "é"), ("a4f09f9880", "😀"), ("a100", "\u{0}"),
    ]

    @Test(arguments: strings)
    func stringsOfEveryWidth(hex: String, text: String) throws {
        #expect(try MessagePackFixture.decode(hex) == .string(text))
    }

    static let binaries: [(String, [UInt8])] = [
        ("c400", []), ("c403010203", [1, 2, 3]), ("c50003010203", [1, 2, 3]), ("c600000003010203", [1, 2, 3]),
    ]

    @Test(arguments: binaries)
    func binaryOfEveryWidth(hex: String, bytes: [UInt8]) throws {
        #expect(try MessagePackFixture.decode(hex) == .binary(ByteBuffer(bytes: bytes)))
    }

    static let containers: [(String, JSONValue)] = [
        ("90", []), ("92c0c3", [nil, true]), ("dc0002c0c3", [nil, true]), ("dd00000002c0c3", [nil, true]),
        ("80", [:]), ("81a16101", ["a": 1]), ("de0001a16101", ["a": 1]), ("df00000001a16101", ["a": 1]),
        ("dc0000", []), ("de0000", [:]), ("9190", [[]]), ("81a081a080", ["": ["": [:]]]),
    ]

    @Test(arguments: containers)
    func containersOfEveryWidth(hex: String, value: JSONValue) throws {
        #expect(try MessagePackFixture.decode(hex) == value)
    }

    @Test func constants() throws {
        #expect(try MessagePackFixture.decode("c0") == nil)
        #expect(try MessagePackFixture.decode("c2") == false)
        #expect(try MessagePackFixture.decode("c3") == true)
    }

    /// JavaScript makes every property name text, so `io.to(123)` rooms and integer keys agree.
    static let integerKeys: [(String, String)] = [
        ("00", "0"), ("7b", "123"), ("ff", "-1"), ("d080", "-128"), ("cd0400", "1024"), ("d2ffff0000", "-65536"),
        ("cf001fffffffffffff", "9007199254740991"), ("cfffffffffffffffff", "18446744073709552000"),
    ]

    @Test(arguments: integerKeys)
    func integerMapKeysBecomeTheirDecimalText(keyHex: String, key: String) throws {
        #expect(try MessagePackFixture.decode("81" + keyHex + "c3") == .object([JSONMember(key: key, value: true)]))
    }

    /// An object keeps a repeated key where it first appeared, with the value assigned last.
    @Test func repeatedKeysKeepTheFirstPositionAndTheLastValue() throws {
        #expect(try MessagePackFixture.decode("82a16101a16102") == ["a": 2])
        #expect(try MessagePackFixture.decode("83a16101a16202a16103") == ["a": 3, "b": 2])
        #expect(try MessagePackFixture.decode("82a13101" + "0102") == ["1": 2])

        // A map large enough to be indexed: keys "a" to "t", each twice, with the values 0 to 39.
        var bytes: [UInt8] = [0xDE, 0x00, 40]
        for index in 0..<40 {
            bytes += [0xA1, UInt8(ascii: "a") + UInt8(index % 20), UInt8(index)]
        }
        let expected = JSONValue.object((0..<20).map { index in
            JSONMember(key: String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index))), value: .number(Double(index + 20)))
        })
        #expect(try MessagePackFixture.decode(bytes) == expected)
    }

    @Test func binarySharesTheInputStorage() throws {
        let input = ByteBuffer(bytes: MessagePackFixture.bytes("92c403010203a0"))
        guard case .binary(let slice) = try MessagePack.decode(input)[0] else {
            Issue.record("not binary")
            return
        }
        #expect(Array(slice.readableBytesView) == [1, 2, 3])
        #expect(slice.readableBytes == 3)
    }

    /// A room named by a JS number travels as an integer (§4.3).
    @Test func integerRoomNames() throws {
        let value = try MessagePackFixture.decode(
            "93 a141 83a47479706502a46461746191a178a36e7370a12f 83a5726f6f6d73917ba665786365707490a5666c61677380"
        )
        #expect(value[2]?["rooms"] == [123])
    }
}
