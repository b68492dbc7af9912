import NIOCore

extension MessagePack {
    /// The MessagePack bytes notepack.io would write for `value`.
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var buffer = ByteBuffer()
        encode(value, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Appends the MessagePack bytes notepack.io would write for `value`.
    ///
    /// Lengths above `UInt32.max` cannot be expressed in MessagePack; notepack throws for them and
    /// so do we, by trapping, since no Socket.IO message comes near 4 GiB.
    public static func encode(_ value: JSONValue, into buffer: inout ByteBuffer) {
        switch value {
        case .null:
            buffer.writeInteger(UInt8(0xC0))
        case .bool(let flag):
            buffer.writeInteger(flag ? UInt8(0xC3) : UInt8(0xC2))
        case .number(let number):
            writeNumber(number, into: &buffer)
        case .string(let text):
            writeStringHeader(byteCount: text.utf8.count, into: &buffer)
            buffer.writeString(text)
        case .binary(let bytes):
            writeLengthHeader(bytes.readableBytes, small: 0xC4, medium: 0xC5, large: 0xC6, into: &buffer)
            buffer.writeImmutableBuffer(bytes)
        case .array(let items):
            writeCollectionHeader(count: items.count, fixBase: 0x90, medium: 0xDC, large: 0xDD, into: &buffer)
            for item in items { encode(item, into: &buffer) }
        case .object(let members):
            writeCollectionHeader(count: members.count, fixBase: 0x80, medium: 0xDE, large: 0xDF, into: &buffer)
            for member in members {
                writeStringHeader(byteCount: member.key.utf8.count, into: &buffer)
                buffer.writeString(member.key)
                encode(member.value, into: &buffer)
            }
        }
    }

    /// notepack writes a number as an integer when `Math.floor(x) === x` and it is finite, in the
    /// smallest of the formats below, and as float64 otherwise (never float32).
    ///
    /// Whole numbers outside the 64-bit ranges (at or above 2^64, below -2^63) are written as float64.
    /// notepack would put them in `cf`/`d3` with wrapped-around bits, which reads back as a different
    /// number; float64 keeps the value and every reader, notepack included, accepts it.
    /// `-0` is written `00`, as notepack does, and so reads back as `0`.
    static func writeNumber(_ number: Double, into buffer: inout ByteBuffer) {
        guard number.isFinite, number.rounded(.down) == number else {
            return writeFloat64(number, into: &buffer)
        }
        if number >= 0 {
            // 2^64 itself is a Double, so the bound is exclusive.
            guard number < 18_446_744_073_709_551_616.0 else { return writeFloat64(number, into: &buffer) }
            writeUnsigned(UInt64(number), into: &buffer)
        } else {
            guard number >= -9_223_372_036_854_775_808.0 else { return writeFloat64(number, into: &buffer) }
            writeNegative(Int64(number), into: &buffer)
        }
    }

    private static func writeFloat64(_ number: Double, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0xCB))
        // JavaScript has one NaN; its bits are the quiet NaN Swift's `.nan` also has.
        buffer.writeInteger((number.isNaN ? Double.nan : number).bitPattern)
    }

    private static func writeUnsigned(_ value: UInt64, into buffer: inout ByteBuffer) {
        switch value {
        case ..<0x80:
            buffer.writeInteger(UInt8(value))
        case ..<0x100:
            buffer.writeInteger(UInt8(0xCC))
            buffer.writeInteger(UInt8(value))
        case ..<0x1_0000:
            buffer.writeInteger(UInt8(0xCD))
            buffer.writeInteger(UInt16(value))
        case ..<0x1_0000_0000:
            buffer.writeInteger(UInt8(0xCE))
            buffer.writeInteger(UInt32(value))
        default:
            buffer.writeInteger(UInt8(0xCF))
            buffer.writeInteger(value)
        }
    }

    private static func writeNegative(_ value: Int64, into buffer: inout ByteBuffer) {
        switch value {
        case (-0x20)...:
            buffer.writeInteger(Int8(value))
        case (-0x80)...:
            buffer.writeInteger(UInt8(0xD0))
            buffer.writeInteger(Int8(value))
        case (-0x8000)...:
            buffer.writeInteger(UInt8(0xD1))
            buffer.writeInteger(Int16(value))
        case (-0x8000_0000)...:
            buffer.writeInteger(UInt8(0xD2))
            buffer.writeInteger(Int32(value))
        default:
            buffer.writeInteger(UInt8(0xD3))
            buffer.writeInteger(value)
        }
    }

    /// fixstr holds up to 31 bytes; `d9` (str8) exists for strings, unlike for arrays and maps.
    private static func writeStringHeader(byteCount: Int, into buffer: inout ByteBuffer) {
        if byteCount < 0x20 {
            buffer.writeInteger(UInt8(0xA0) | UInt8(byteCount))
        } else {
            writeLengthHeader(byteCount, small: 0xD9, medium: 0xDA, large: 0xDB, into: &buffer)
        }
    }

    /// Arrays and maps have a fix form for up to 15 elements and no 8-bit form.
    private static func writeCollectionHeader(count: Int, fixBase: UInt8, medium: UInt8, large: UInt8, into buffer: inout ByteBuffer) {
        if count < 0x10 {
            buffer.writeInteger(fixBase | UInt8(count))
        } else if count < 0x1_0000 {
            buffer.writeInteger(medium)
            buffer.writeInteger(UInt16(count))
        } else {
            precondition(count <= UInt32.max, "MessagePack cannot hold more than 2^32-1 elements")
            buffer.writeInteger(large)
            buffer.writeInteger(UInt32(count))
        }
    }

    /// The 8-, 16- and 32-bit length forms shared by `bin` and `str`.
    private static func writeLengthHeader(_ length: Int, small: UInt8, medium: UInt8, large: UInt8, into buffer: inout ByteBuffer) {
        if length < 0x100 {
            buffer.writeInteger(small)
            buffer.writeInteger(UInt8(length))
        } else if length < 0x1_0000 {
            buffer.writeInteger(medium)
            buffer.writeInteger(UInt16(length))
        } else {
            precondition(length <= UInt32.max, "MessagePack cannot hold more than 2^32-1 bytes")
            buffer.writeInteger(large)
            buffer.writeInteger(UInt32(length))
        }
    }
}
