import NIOCore

/// Extension types, read as notepack.io 3.0.1 reads them. notepack writes only timestamps (for a
/// `Date`); the other forms come from notepack 2.x peers or foreign encoders.
///
/// | bytes | notepack gives | we give |
/// |---|---|---|
/// | `d4 00 xx` (fixext1, type 0) | `undefined` (how 2.x wrote it) | `null`, also as an object member, which Node's `JSON.stringify` would drop |
/// | `d6 ff` + u32 seconds | `Date` | ISO-8601 string, see `MessagePack+Timestamp.swift` |
/// | `d7 ff` + 30-bit ns, 34-bit seconds | `Date` | ISO-8601 string; more than 999,999,999 ns is an error |
/// | `c7 0c ff` + u32 ns + i64 seconds (or `c8`/`c9` with length 12) | `Date` | ISO-8601 string; likewise |
/// | `d7 00` + i64 milliseconds | `Date` (how 2.x wrote it) | ISO-8601 string |
/// | `c7`/`c8`/`c9` with type 0 | `ArrayBuffer` (how 2.x wrote it) | binary |
/// | any other extension | `[type, Buffer]` | `[type, binary]` |
extension MessagePackReader {
    private static let timestampType: Int8 = -1

    /// fixext 1, 2, 4, 8 and 16: a type byte and a payload of fixed size.
    mutating func readFixedExtension(length: Int, at start: Int) throws(MessagePackError) -> JSONValue {
        let type = try read(Int8.self)
        switch (type, length) {
        case (0, 1):
            _ = try read(UInt8.self)
            return .null
        case (0, 8):
            return MessagePack.javaScriptDate(milliseconds: try read(Int64.self))
        case (Self.timestampType, 4):
            return MessagePack.javaScriptDate(seconds: Int64(try read(UInt32.self)), nanoseconds: 0)
        case (Self.timestampType, 8):
            let packed = try read(UInt64.self)
            let nanoseconds = packed >> 34
            guard nanoseconds < 1_000_000_000 else { throw .invalidTimestamp(offset: start) }
            return MessagePack.javaScriptDate(seconds: Int64(packed & 0x3_FFFF_FFFF), nanoseconds: UInt32(nanoseconds))
        default:
            // The size is fixed by the format byte, so too few bytes means the input was cut short.
            guard length <= remaining else { throw .truncated(offset: offset + remaining) }
            return Self.unknownExtension(type, try readBytes(length: length, at: start))
        }
    }

    /// ext 8, 16 and 32: a length, a type byte, then the payload.
    mutating func readExtension(length: Int, at start: Int) throws(MessagePackError) -> JSONValue {
        let type = try read(Int8.self)
        switch (type, length) {
        case (0, _):
            return .binary(try readBytes(length: length, at: start))
        case (Self.timestampType, 12):
            guard remaining >= 12 else {
                throw .lengthExceedsInput(offset: start, declared: length, available: remaining)
            }
            let nanoseconds = try read(UInt32.self)
            let seconds = try read(Int64.self)
            guard nanoseconds < 1_000_000_000 else { throw .invalidTimestamp(offset: start) }
            return MessagePack.javaScriptDate(seconds: seconds, nanoseconds: nanoseconds)
        default:
            return Self.unknownExtension(type, try readBytes(length: length, at: start))
        }
    }

    private static func unknownExtension(_ type: Int8, _ payload: ByteBuffer) -> JSONValue {
        .array([.number(Double(type)), .binary(payload)])
    }
}
