import NIOCore
import Testing

@testable import SocketIO

/// Timestamps become the ISO text a Node receiver's clients would get, and the notepack 2.x forms
/// still read as they did.
@Suite("MessagePack extension types")
struct MessagePackExtensionTests {
    /// `c7 0c ff`, u32 nanoseconds, i64 seconds.
    static func timestamp96(seconds: Int64, nanoseconds: UInt32) -> [UInt8] {
        var buffer = ByteBuffer(bytes: [0xC7, 0x0C, 0xFF])
        buffer.writeInteger(nanoseconds)
        buffer.writeInteger(seconds)
        return Array(buffer.readableBytesView)
    }

    /// `d7 00` and i64 milliseconds, as notepack 2.x wrote a `Date`.
    static func legacyDate(milliseconds: Int64) -> [UInt8] {
        var buffer = ByteBuffer(bytes: [0xD7, 0x00])
        buffer.writeInteger(milliseconds)
        return Array(buffer.readableBytesView)
    }

    /// The first ones were written by the reference Python `msgpack` package.
    static let timestamps: [(String, JSONValue)] = [
        ("d6ff39457980", "2000-06-13T00:00:00.000Z"),
        ("d6ff00000000", "1970-01-01T00:00:00.000Z"),
        ("d6ffffffffff", "2106-02-07T06:28:15.000Z"),
        ("d7ff1d6f345439457980", "2000-06-13T00:00:00.123Z"),
        ("d7ff003d08fc00000000", "1970-01-01T00:00:00.000Z"),  // 999,999 ns: below one millisecond
        ("d7ffee6b27ffffffffff", "2514-05-30T01:53:03.999Z"),
        ("c70cff1dcd6500ffffffffffffffff", "1969-12-31T23:59:59.500Z"),
        ("c70cff00000000fffffff1886e0900", "0001-01-01T00:00:00.000Z"),
        ("c70cff000000000000003afff44180", "+010000-01-01T00:00:00.000Z"),
        ("c70cff00000000000007dba8218000", "+275760-09-13T00:00:00.000Z"),
        ("c70cff00000000fffff82457de8000", "-271821-04-20T00:00:00.000Z"),
        // One second beyond what a JavaScript Date holds: an invalid Date, which JSON makes null.
        ("c70cff00000000000007dba8218001", nil),
        ("c70cff00000000fffff82457de7fff", nil),
        ("c70cff000000007fffffffffffffff", nil),
        ("c70cff000000008000000000000000", nil),
    ]

    @Test(arguments: timestamps)
    func timestampsBecomeISOStrings(hex: String, expected: JSONValue) throws {
        #expect(try MessagePackFixture.decode(hex) == expected)
    }

    static let timestamp96Cases: [(Int64, UInt32, String)] = [
        (-62_198_755_200, 0, "-000001-01-01T00:00:00.000Z"),
        (-62_167_219_200, 0, "0000-01-01T00:00:00.000Z"),
        (253_402_300_799, 999_000_000, "9999-12-31T23:59:59.999Z"),
        (951_782_400, 0, "2000-02-29T00:00:00.000Z"),
        (-2_203_891_200, 0, "1900-03-01T00:00:00.000Z"),
        // Sub-millisecond parts fall towards the past, also before the epoch.
        (-1, 1, "1969-12-31T23:59:59.000Z"),
        (-1, 999_999_999, "1969-12-31T23:59:59.999Z"),
    ]

    @Test(arguments: timestamp96Cases)
    func timestamp96DecodesAtAnyDate(seconds: Int64, nanoseconds: UInt32, expected: String) throws {
        #expect(try MessagePackFixture.decode(Self.timestamp96(seconds: seconds, nanoseconds: nanoseconds)) == .string(expected))
    }

    static let legacyDates: [(Int64, JSONValue)] = [
        (960_854_400_123, "2000-06-13T00:00:00.123Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (8_640_000_000_000_000, "+275760-09-13T00:00:00.000Z"),
        (-8_640_000_000_000_000, "-271821-04-20T00:00:00.000Z"),
        (8_640_000_000_000_001, nil),
        (.min, nil),
        (.max, nil),
    ]

    @Test(arguments: legacyDates)
    func legacyMillisecondDates(milliseconds: Int64, expected: JSONValue) throws {
        #expect(try MessagePackFixture.decode(Self.legacyDate(milliseconds: milliseconds)) == expected)
    }

    @Test func timestampsWithTooManyNanosecondsAreRejected() {
        #expect(throws: MessagePackError.invalidTimestamp(offset: 0)) {
            try MessagePackFixture.decode("d7ffee6b2800ffffffff")  // 1,000,000,000 ns
        }
        #expect(throws: MessagePackError.invalidTimestamp(offset: 1)) {
            try MessagePackFixture.decode([0x91] + Self.timestamp96(seconds: 0, nanoseconds: 1_000_000_000))
        }
    }

    /// notepack 2.x wrote `undefined` as `d4 00 00`; 3.x reads any `d4 00 xx` back as undefined.
    @Test func undefinedBecomesNull() throws {
        #expect(try MessagePackFixture.decode("d40000") == nil)
        #expect(try MessagePackFixture.decode("d4007f") == nil)
        #expect(try MessagePackFixture.decode("92d40000c3") == [nil, true])
        #expect(try MessagePackFixture.decode("81a161d40000") == ["a": nil])
    }

    /// notepack 2.x wrote an ArrayBuffer as ext type 0.
    @Test func legacyArrayBuffersBecomeBinary() throws {
        let bytes = JSONValue.binary(ByteBuffer(bytes: [1, 2, 3]))
        #expect(try MessagePackFixture.decode("c70300010203") == bytes)
        #expect(try MessagePackFixture.decode("c8000300010203") == bytes)
        #expect(try MessagePackFixture.decode("c90000000300010203") == bytes)
        #expect(try MessagePackFixture.decode("c70000") == .binary(ByteBuffer()))
    }

    static let otherExtensions: [(String, Double, [UInt8])] = [
        ("d405aa", 5, [0xAA]),
        ("d5ff0102", -1, [1, 2]),  // type -1, but not a timestamp size
        ("d6000a0b0c0d", 0, [0x0A, 0x0B, 0x0C, 0x0D]),
        ("d6800a0b0c0d", -128, [0x0A, 0x0B, 0x0C, 0x0D]),
        ("d7010102030405060708", 1, [1, 2, 3, 4, 5, 6, 7, 8]),
        ("d87f" + String(repeating: "ee", count: 16), 127, Array(repeating: 0xEE, count: 16)),
        ("c70210abcd", 16, [0xAB, 0xCD]),
        ("c704ff39457980", -1, [0x39, 0x45, 0x79, 0x80]),  // a timestamp only in its fixext form
        ("c8000110ff", 16, [0xFF]),
        ("c900000000fe", -2, []),
    ]

    @Test(arguments: otherExtensions)
    func otherExtensionsBecomeTypeAndBytes(hex: String, type: Double, payload: [UInt8]) throws {
        #expect(try MessagePackFixture.decode(hex) == [.number(type), .binary(ByteBuffer(bytes: payload))])
    }

    @Test func isoStringsAtTheEdges() {
        #expect(MessagePack.isoString(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(MessagePack.isoString(milliseconds: -86_400_000) == "1969-12-31T00:00:00.000Z")
        #expect(MessagePack.isoString(milliseconds: -86_400_001) == "1969-12-30T23:59:59.999Z")
        #expect(MessagePack.isoString(milliseconds: 1_782_398_120_000) == "2026-06-25T14:35:20.000Z")
        #expect(MessagePack.isoString(milliseconds: -62_135_596_800_001) == "0000-12-31T23:59:59.999Z")
    }
}
