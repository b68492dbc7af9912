import NIOCore
import Testing

@testable import SocketIO

/// The byte vectors of the Redis adapter wire-format spec (§4.5–4.7, §5.4), each encoded from a
/// value built in Node's key order and decoded back.
@Suite("MessagePack spec vectors")
struct MessagePackSpecVectorTests {
    static let exampleA: JSONValue = [
        "Ab3xY_",
        ["type": 2, "data": ["chat", "hi", 42], "nsp": "/"],
        ["rooms": ["room1"], "except": [], "flags": [:]],
    ]
    static let exampleAHex =
        "93a641623378595f83a47479706502a46461746193a463686174a268692aa36e7370a12f83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380"

    static let exampleB: JSONValue = [
        "Ab3xY_",
        ["type": 2, "data": ["file", .binary(ByteBuffer(bytes: [1, 2, 3]))], "nsp": "/"],
        ["rooms": [], "except": ["VXN0bTZ5oVNqbmVvAAAB"], "flags": [:]],
    ]
    static let exampleBHex = """
        93 a6 41 62 33 78 59 5f 83 a4 74 79 70 65 02 a4 64 61 74 61 92 a4 66 69 6c 65 c4 03 01 02 03 a3 6e 73 70 a1 2f \
        83 a5 72 6f 6f 6d 73 90 a6 65 78 63 65 70 74 91 b4 56 58 4e 30 62 54 5a 35 6f 56 4e 71 62 6d 56 76 41 41 41 42 \
        a5 66 6c 61 67 73 80
        """

    /// §4.7: the emitter writes `opts` keys in another order; the bytes were checked against the
    /// reference Python `msgpack` package.
    static let exampleC: JSONValue = [
        "emitter",
        ["type": 2, "data": ["news", ["a": 1.5, "ok": true, "n": nil]], "nsp": "/admin"],
        ["rooms": ["r1", "r2"], "flags": ["volatile": true], "except": []],
    ]
    static let exampleCHex =
        "93a7656d697474657283a47479706502a46461746192a46e65777383a161cb3ff8000000000000a26f6bc3a16ec0a36e7370a62f61646d696e83a5726f6f6d7392a27231a27232a5666c61677381a8766f6c6174696c65c3a665786365707490"

    static let broadcastRequest: JSONValue = [
        "uid": "Ab3xY_", "requestId": "q9Zk2L", "type": 7,
        "packet": ["type": 2, "data": ["ping"], "nsp": "/"],
        "opts": ["rooms": [], "except": [], "flags": ["timeout": 1000]],
    ]
    static let broadcastRequestHex = """
        85 a3 75 69 64 a6 41 62 33 78 59 5f a9 72 65 71 75 65 73 74 49 64 a6 71 39 5a 6b 32 4c a4 74 79 70 65 07 a6 70 \
        61 63 6b 65 74 83 a4 74 79 70 65 02 a4 64 61 74 61 91 a4 70 69 6e 67 a3 6e 73 70 a1 2f a4 6f 70 74 73 83 a5 72 \
        6f 6f 6d 73 90 a6 65 78 63 65 70 74 90 a5 66 6c 61 67 73 81 a7 74 69 6d 65 6f 75 74 cd 03 e8
        """

    static let broadcastAck: JSONValue = ["type": 9, "requestId": "q9Zk2L", "packet": "pong"]
    static let broadcastAckHex =
        "83 a4 74 79 70 65 09 a9 72 65 71 75 65 73 74 49 64 a6 71 39 5a 6b 32 4c a6 70 61 63 6b 65 74 a4 70 6f 6e 67"

    static let vectors: [(name: String, value: JSONValue, hex: String, count: Int)] = [
        ("Example A", exampleA, exampleAHex, 65),
        ("Example B", exampleB, exampleBHex, 81),
        ("Example C", exampleC, exampleCHex, 96),
        ("BROADCAST", broadcastRequest, broadcastRequestHex, 105),
        ("BROADCAST_ACK", broadcastAck, broadcastAckHex, 36),
        ("1.5", 1.5, "cb 3f f8 00 00 00 00 00 00", 9),
    ]

    @Test(arguments: vectors.indices)
    func encodesToTheSpecBytes(index: Int) {
        let vector = Self.vectors[index]
        let bytes = MessagePack.encode(vector.value)
        #expect(bytes.count == vector.count, "\(vector.name)")
        #expect(MessagePackFixture.hex(bytes) == MessagePackFixture.hex(MessagePackFixture.bytes(vector.hex)), "\(vector.name)")
    }

    @Test(arguments: vectors.indices)
    func decodesTheSpecBytes(index: Int) throws {
        let vector = Self.vectors[index]
        #expect(try MessagePackFixture.decode(vector.hex) == vector.value, "\(vector.name)")
    }

    @Test func encodingIntoABufferAppends() {
        var buffer = ByteBuffer(bytes: [0xEE])
        MessagePack.encode(Self.exampleA, into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0xEE] + MessagePackFixture.bytes(Self.exampleAHex))
    }

    @Test func exampleBCarriesItsArgumentAsBinary() throws {
        let decoded = try MessagePackFixture.decode(Self.exampleBHex)
        #expect(decoded[1]?["data"]?[1] == .binary(ByteBuffer(bytes: [1, 2, 3])))
    }

    @Test func exampleCIsReadWhateverTheKeyOrder() throws {
        let opts = try MessagePackFixture.decode(Self.exampleCHex)[2]
        #expect(opts?["rooms"] == ["r1", "r2"])
        #expect(opts?["except"] == [])
        #expect(opts?["flags"]?["volatile"] == true)
    }

    /// notepack's README: `new Date('2000-06-13T00:00:00.000Z')` is written `d6 ff 39 45 79 80`.
    @Test func decodesNotepacksDateExample() throws {
        #expect(try MessagePackFixture.decode("d6 ff 39 45 79 80") == "2000-06-13T00:00:00.000Z")
    }

    @Test func decodesFromAReaderIndexOtherThanZero() throws {
        var buffer = ByteBuffer(bytes: [0x01, 0x02] + MessagePackFixture.bytes(Self.broadcastAckHex))
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try MessagePack.decode(buffer) == Self.broadcastAck)
        var truncated = buffer
        truncated.moveWriterIndex(to: buffer.writerIndex - 1)
        #expect(throws: MessagePackError.lengthExceedsInput(offset: 31, declared: 4, available: 3)) {
            try MessagePack.decode(truncated)
        }
    }
}

/// Hex fixtures for the MessagePack tests.
enum MessagePackFixture {
    /// Bytes from hex digits; spaces are ignored.
    static func bytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace }.utf8)
        precondition(digits.count % 2 == 0, "odd number of hex digits")
        return stride(from: 0, to: digits.count, by: 2).map { index in
            UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16)!
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static func decode(_ hex: String) throws(MessagePackError) -> JSONValue {
        try MessagePack.decode(ByteBuffer(bytes: bytes(hex)))
    }

    static func decode(_ bytes: [UInt8]) throws(MessagePackError) -> JSONValue {
        try MessagePack.decode(ByteBuffer(bytes: bytes))
    }
}
