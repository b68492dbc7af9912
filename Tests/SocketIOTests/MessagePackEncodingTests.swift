import NIOCore
import Testing

@testable import SocketIO

/// notepack always writes the smallest format; these pin every boundary, and read each back.
@Suite("MessagePack encoding")
struct MessagePackEncodingTests {
    /// Expected bytes were checked against the reference Python `msgpack` package.
    static let numbers: [(Double, String)] = [
        (0, "00"), (1, "01"), (42, "2a"), (127, "7f"),
        (128, "cc80"), (255, "ccff"),
        (256, "cd0100"), (65535, "cdffff"),
        (65536, "ce00010000"), (4_294_967_295, "ceffffffff"),
        (4_294_967_296, "cf0000000100000000"),
        (9_007_199_254_740_992, "cf0020000000000000"),
        (18_446_744_073_709_549_568, "cffffffffffffff800"),  // the largest double below 2^64
        (-1, "ff"), (-32, "e0"),
        (-33, "d0df"), (-128, "d080"),
        (-129, "d1ff7f"), (-32768, "d18000"),
        (-32769, "d2ffff7fff"), (-2_147_483_648, "d280000000"),
        (-2_147_483_649, "d3ffffffff7fffffff"),
        (-9_223_372_036_854_775_808, "d38000000000000000"),
    ]

    @Test(arguments: numbers)
    func integralNumbersUseTheSmallestIntegerFormat(number: Double, hex: String) throws {
        let bytes = MessagePack.encode(.number(number))
        #expect(MessagePackFixture.hex(bytes) == hex, "\(number)")
        #expect(try MessagePackFixture.decode(bytes) == .number(number))
    }

    static let floats: [(Double, String)] = [
        (0.5, "cb3fe0000000000000"), (1.5, "cb3ff8000000000000"), (1e300, "cb7e37e43c8800759c"),
        (.infinity, "cb7ff0000000000000"), (-.infinity, "cbfff0000000000000"),
        // Whole numbers outside the 64-bit ranges stay float64, so their value survives.
        (18_446_744_073_709_551_616, "cb43f0000000000000"),
        (-9_223_372_036_854_777_856, "cbc3e0000000000001"),
    ]

    @Test(arguments: floats)
    func otherNumbersAreFloat64(number: Double, hex: String) throws {
        let bytes = MessagePack.encode(.number(number))
        #expect(MessagePackFixture.hex(bytes) == hex, "\(number)")
        #expect(try MessagePackFixture.decode(bytes) == .number(number))
    }

    @Test func notANumberIsJavaScriptsNaN() throws {
        let bytes = MessagePack.encode(.number(-Double(nan: 0x1234, signaling: false)))
        #expect(MessagePackFixture.hex(bytes) == "cb7ff8000000000000")
        #expect(try MessagePackFixture.decode(bytes).numberValue?.isNaN == true)
    }

    @Test func negativeZeroIsWrittenAsZeroLikeNotepack() {
        #expect(MessagePack.encode(.number(-0.0)) == [0x00])
    }

    @Test func constants() {
        #expect(MessagePack.encode(nil) == [0xC0])
        #expect(MessagePack.encode(false) == [0xC2])
        #expect(MessagePack.encode(true) == [0xC3])
    }

    /// (byte count, expected header) for strings and binary.
    static let stringLengths: [(Int, String)] = [
        (0, "a0"), (31, "bf"), (32, "d920"), (255, "d9ff"), (256, "da0100"), (65535, "daffff"), (65536, "db00010000"),
    ]

    @Test(arguments: stringLengths)
    func stringHeadersFollowTheUTF8ByteCount(count: Int, header: String) throws {
        let text = String(repeating: "x", count: count)
        let bytes = MessagePack.encode(.string(text))
        let headerBytes = MessagePackFixture.bytes(header)
        #expect(Array(bytes.prefix(headerBytes.count)) == headerBytes)
        #expect(bytes.count == headerBytes.count + count)
        #expect(try MessagePackFixture.decode(bytes) == .string(text))
    }

    @Test func stringLengthCountsBytesNotCharacters() throws {
        // 16 two-byte and 8 four-byte characters are 32 bytes: too long for fixstr.
        for text in [String(repeating: "é", count: 16), String(repeating: "😀", count: 8)] {
            let bytes = MessagePack.encode(.string(text))
            #expect(Array(bytes.prefix(2)) == [0xD9, 0x20])
            #expect(try MessagePackFixture.decode(bytes) == .string(text))
        }
        #expect(MessagePack.encode("é") == [0xA2, 0xC3, 0xA9])
    }

    static let binaryLengths: [(Int, String)] = [
        (0, "c400"), (1, "c401"), (255, "c4ff"), (256, "c50100"), (65535, "c5ffff"), (65536, "c600010000"),
    ]

    @Test(arguments: binaryLengths)
    func binaryIsBin(count: Int, header: String) throws {
        let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let bytes = MessagePack.encode(.binary(ByteBuffer(bytes: payload)))
        let headerBytes = MessagePackFixture.bytes(header)
        #expect(Array(bytes.prefix(headerBytes.count)) == headerBytes)
        #expect(Array(bytes.dropFirst(headerBytes.count)) == payload)
        #expect(try MessagePackFixture.decode(bytes) == .binary(ByteBuffer(bytes: payload)))
    }

    @Test func binaryWritesOnlyTheReadableBytes() {
        var buffer = ByteBuffer(bytes: [9, 9, 1, 2])
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(MessagePack.encode(.binary(buffer)) == [0xC4, 0x02, 0x01, 0x02])
    }

    static let collectionSizes: [(Int, String, String)] = [
        (0, "90", "80"), (1, "91", "81"), (15, "9f", "8f"), (16, "dc0010", "de0010"),
        (65535, "dcffff", "deffff"), (65536, "dd00010000", "df00010000"),
    ]

    @Test(arguments: collectionSizes)
    func collectionHeaders(count: Int, arrayHeader: String, mapHeader: String) throws {
        let array = JSONValue.array(Array(repeating: .null, count: count))
        let arrayBytes = MessagePack.encode(array)
        #expect(MessagePackFixture.hex(Array(arrayBytes.prefix(arrayHeader.count / 2))) == arrayHeader)
        #expect(arrayBytes.count == arrayHeader.count / 2 + count)
        #expect(try MessagePackFixture.decode(arrayBytes) == array)

        let map = JSONValue.object((0..<count).map { JSONMember(key: String($0), value: .bool(true)) })
        let mapBytes = MessagePack.encode(map)
        #expect(MessagePackFixture.hex(Array(mapBytes.prefix(mapHeader.count / 2))) == mapHeader)
        #expect(try MessagePackFixture.decode(mapBytes) == map)
    }

    @Test func objectMembersKeepTheirOrder() {
        let value: JSONValue = ["z": 1, "a": 2, "m": ["y": nil, "b": []]]
        #expect(MessagePackFixture.hex(MessagePack.encode(value)) == "83a17a01a16102a16d82a179c0a16290")
    }
}
