import NIOCore
import Testing

@testable import SocketIO

/// Anyone who can publish to Redis picks the bytes, so every malformed input must end in a precise
/// error, before any large allocation and without deep recursion.
@Suite("MessagePack decoding errors")
struct MessagePackErrorTests {
    static let truncations: [(String, MessagePackError)] = [
        ("", .truncated(offset: 0)),
        ("cc", .truncated(offset: 1)),
        ("cd01", .truncated(offset: 2)),
        ("cb3ff8", .truncated(offset: 3)),
        ("d3ffffffff", .truncated(offset: 5)),
        ("ca3fc000", .truncated(offset: 4)),
        ("c5", .truncated(offset: 1)),
        ("db0000", .truncated(offset: 3)),
        ("929100", .truncated(offset: 3)),
        ("81a161", .truncated(offset: 3)),
        ("d4", .truncated(offset: 1)),
        ("d400", .truncated(offset: 2)),
        ("d6ff3945", .truncated(offset: 4)),
        ("d7003945", .truncated(offset: 4)),
        ("d805aabbcc", .truncated(offset: 5)),
        ("c703", .truncated(offset: 2)),
    ]

    @Test(arguments: truncations)
    func truncatedInput(hex: String, error: MessagePackError) {
        #expect(throws: error) { try MessagePackFixture.decode(hex) }
    }

    /// Every proper prefix of a real message fails, whichever way it was cut.
    @Test func everyPrefixOfAMessageFails() {
        let bytes = MessagePackFixture.bytes(MessagePackSpecVectorTests.exampleBHex)
        for end in 0..<bytes.count {
            #expect(throws: MessagePackError.self) { try MessagePackFixture.decode(Array(bytes[..<end])) }
        }
    }

    @Test func trailingBytes() {
        #expect(throws: MessagePackError.trailingBytes(offset: 1, count: 1)) { try MessagePackFixture.decode("c0c0") }
        #expect(throws: MessagePackError.trailingBytes(offset: 65, count: 2)) {
            try MessagePackFixture.decode(MessagePackSpecVectorTests.exampleAHex + "0000")
        }
    }

    @Test func reservedFormat() {
        #expect(throws: MessagePackError.reservedFormat(offset: 0)) { try MessagePackFixture.decode("c1") }
        #expect(throws: MessagePackError.reservedFormat(offset: 2)) { try MessagePackFixture.decode("81a0c1") }
    }

    static let badUTF8 = [
        "a1ff",  // never valid
        "a180",  // continuation without a lead byte
        "a2c328",  // lead byte without its continuation
        "a2c080",  // overlong encoding of U+0000
        "a3eda080",  // UTF-16 surrogate
        "a4f4908080",  // beyond U+10FFFF
        "a2e282",  // cut inside a character
        "d901fe",
    ]

    @Test(arguments: badUTF8)
    func invalidUTF8IsRejected(hex: String) {
        #expect(throws: MessagePackError.invalidUTF8(offset: 0)) { try MessagePackFixture.decode(hex) }
    }

    @Test func invalidUTF8InAKey() {
        #expect(throws: MessagePackError.invalidUTF8(offset: 1)) { try MessagePackFixture.decode("81a1ffc0") }
    }

    static let badKeys: [(String, UInt8)] = [
        ("c0", 0xC0), ("c2", 0xC2), ("c3", 0xC3), ("ca3fc00000", 0xCA), ("cb3ff8000000000000", 0xCB),
        ("90", 0x90), ("80", 0x80), ("c400", 0xC4), ("d6ff39457980", 0xD6), ("d40000", 0xD4), ("c1", 0xC1),
    ]

    @Test(arguments: badKeys)
    func mapKeysMustBeStringsOrIntegers(keyHex: String, format: UInt8) {
        #expect(throws: MessagePackError.unsupportedMapKey(offset: 2, format: format)) {
            try MessagePackFixture.decode("9181" + keyHex + "c0")
        }
    }

    @Test func nestingIsLimited() throws {
        let limit = MessagePack.maximumDepth
        let deepest = Array(repeating: UInt8(0x91), count: limit) + [0xC0]
        #expect(throws: Never.self) { try MessagePackFixture.decode(deepest) }
        #expect(throws: MessagePackError.nestingTooDeep(offset: limit, limit: limit)) {
            try MessagePackFixture.decode(Array(repeating: 0x91, count: limit + 1) + [0xC0])
        }
        var maps: [UInt8] = []
        for _ in 0...limit { maps += [0x81, 0xA0] }
        #expect(throws: MessagePackError.nestingTooDeep(offset: 2 * limit, limit: limit)) {
            try MessagePackFixture.decode(maps + [0xC0])
        }
    }

    /// A million nested arrays must fail quickly, not overflow the stack.
    @Test func depthBomb() {
        #expect(throws: MessagePackError.nestingTooDeep(offset: MessagePack.maximumDepth, limit: MessagePack.maximumDepth)) {
            try MessagePackFixture.decode(Array(repeating: 0x91, count: 1_000_000))
        }
    }

    static let oversizedLengths: [(String, MessagePackError)] = [
        ("a5616263", .lengthExceedsInput(offset: 0, declared: 5, available: 3)),
        ("dbffffffff", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 0)),
        ("daffff00", .lengthExceedsInput(offset: 0, declared: 65535, available: 1)),
        ("c6ffffffff00", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 1)),
        ("c40201", .lengthExceedsInput(offset: 0, declared: 2, available: 1)),
        ("ddffffffffc0", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 1)),
        ("dcffffc0", .lengthExceedsInput(offset: 0, declared: 65535, available: 1)),
        ("92c0", .lengthExceedsInput(offset: 0, declared: 2, available: 1)),
        ("dfffffffffa0c0", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 2)),
        ("82a0c0a0", .lengthExceedsInput(offset: 0, declared: 2, available: 3)),
        ("c9ffffffff05", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 0)),
        ("c9ffffffff00", .lengthExceedsInput(offset: 0, declared: 4_294_967_295, available: 0)),
        ("c70cff0000000000", .lengthExceedsInput(offset: 0, declared: 12, available: 5)),
        ("91a5616263", .lengthExceedsInput(offset: 1, declared: 5, available: 3)),
    ]

    @Test(arguments: oversizedLengths)
    func lengthsLargerThanTheInput(hex: String, error: MessagePackError) {
        #expect(throws: error) { try MessagePackFixture.decode(hex) }
    }

    @Test func errorsDescribeThemselves() {
        let errors: [MessagePackError] = [
            .truncated(offset: 1), .lengthExceedsInput(offset: 0, declared: 9, available: 1),
            .trailingBytes(offset: 1, count: 2), .reservedFormat(offset: 0), .invalidUTF8(offset: 0),
            .unsupportedMapKey(offset: 1, format: 0xC0), .nestingTooDeep(offset: 256, limit: 256),
            .invalidTimestamp(offset: 0),
        ]
        #expect(Set(errors.map(\.description)).count == errors.count)
        #expect(MessagePackError.unsupportedMapKey(offset: 1, format: 0xC0).description.contains("0xc0"))
    }
}
