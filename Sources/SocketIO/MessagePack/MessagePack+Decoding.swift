import NIOCore

extension MessagePack {
    /// Decodes exactly one MessagePack value that fills `bytes`, reading what notepack.io reads.
    ///
    /// - Integers of every width and float32/float64 become ``JSONValue/number(_:)``; a 64-bit integer
    ///   beyond 2^53 loses precision, as it does in JavaScript.
    /// - `bin` becomes ``JSONValue/binary(_:)``, a slice sharing storage with `bytes`.
    /// - Map keys must be strings or integers; an integer key becomes its decimal text, as a
    ///   JavaScript property name would. A repeated key keeps its first position and its last value,
    ///   as in a JavaScript object.
    /// - Extension types are read as `MessagePack+Extension.swift` describes.
    public static func decode(_ bytes: ByteBuffer) throws(MessagePackError) -> JSONValue {
        var reader = MessagePackReader(bytes)
        let value = try reader.readValue()
        guard reader.remaining == 0 else {
            throw .trailingBytes(offset: reader.offset, count: reader.remaining)
        }
        return value
    }
}

/// A recursive-descent reader over one input. Error offsets point at the first byte of the value
/// at fault, except for truncation, which reports where the input ended.
struct MessagePackReader {
    private var buffer: ByteBuffer
    private let origin: Int
    private var depth = 0

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.origin = buffer.readerIndex
    }

    var offset: Int { buffer.readerIndex - origin }
    var remaining: Int { buffer.readableBytes }

    mutating func readValue() throws(MessagePackError) -> JSONValue {
        let start = offset
        return try readValue(format: try read(UInt8.self), at: start)
    }

    private mutating func readValue(format: UInt8, at start: Int) throws(MessagePackError) -> JSONValue {
        switch format {
        case 0x00...0x7F: return .number(Double(format))
        case 0x80...0x8F: return try readMap(count: Int(format & 0x0F), at: start)
        case 0x90...0x9F: return try readArray(count: Int(format & 0x0F), at: start)
        case 0xA0...0xBF: return .string(try readString(length: Int(format & 0x1F), at: start))
        case 0xC0: return .null
        case 0xC1: throw .reservedFormat(offset: start)
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4: return .binary(try readBytes(length: Int(try read(UInt8.self)), at: start))
        case 0xC5: return .binary(try readBytes(length: Int(try read(UInt16.self)), at: start))
        case 0xC6: return .binary(try readBytes(length: Int(try read(UInt32.self)), at: start))
        case 0xC7: return try readExtension(length: Int(try read(UInt8.self)), at: start)
        case 0xC8: return try readExtension(length: Int(try read(UInt16.self)), at: start)
        case 0xC9: return try readExtension(length: Int(try read(UInt32.self)), at: start)
        case 0xCA: return .number(Double(Float(bitPattern: try read(UInt32.self))))
        case 0xCB: return .number(Double(bitPattern: try read(UInt64.self)))
        case 0xCC: return .number(Double(try read(UInt8.self)))
        case 0xCD: return .number(Double(try read(UInt16.self)))
        case 0xCE: return .number(Double(try read(UInt32.self)))
        // Rounds to the nearest double, as notepack's `hi * 2^32 + lo` does.
        case 0xCF: return .number(Double(try read(UInt64.self)))
        case 0xD0: return .number(Double(try read(Int8.self)))
        case 0xD1: return .number(Double(try read(Int16.self)))
        case 0xD2: return .number(Double(try read(Int32.self)))
        case 0xD3: return .number(Double(try read(Int64.self)))
        case 0xD4: return try readFixedExtension(length: 1, at: start)
        case 0xD5: return try readFixedExtension(length: 2, at: start)
        case 0xD6: return try readFixedExtension(length: 4, at: start)
        case 0xD7: return try readFixedExtension(length: 8, at: start)
        case 0xD8: return try readFixedExtension(length: 16, at: start)
        case 0xD9: return .string(try readString(length: Int(try read(UInt8.self)), at: start))
        case 0xDA: return .string(try readString(length: Int(try read(UInt16.self)), at: start))
        case 0xDB: return .string(try readString(length: Int(try read(UInt32.self)), at: start))
        case 0xDC: return try readArray(count: Int(try read(UInt16.self)), at: start)
        case 0xDD: return try readArray(count: Int(try read(UInt32.self)), at: start)
        case 0xDE: return try readMap(count: Int(try read(UInt16.self)), at: start)
        case 0xDF: return try readMap(count: Int(try read(UInt32.self)), at: start)
        default: return .number(Double(Int8(bitPattern: format)))  // negative fixint e0–ff
        }
    }

    // MARK: Scalars

    /// A big-endian integer of fixed width: running out here means the input was cut short.
    mutating func read<Integer: FixedWidthInteger>(_: Integer.Type) throws(MessagePackError) -> Integer {
        guard let value = buffer.readInteger(as: Integer.self) else {
            throw .truncated(offset: offset + remaining)
        }
        return value
    }

    /// Bytes whose count came from the input, checked against what is left before slicing.
    mutating func readBytes(length: Int, at start: Int) throws(MessagePackError) -> ByteBuffer {
        guard length <= remaining, let bytes = buffer.readSlice(length: length) else {
            throw .lengthExceedsInput(offset: start, declared: length, available: remaining)
        }
        return bytes
    }

    private mutating func readString(length: Int, at start: Int) throws(MessagePackError) -> String {
        guard length <= remaining else {
            throw .lengthExceedsInput(offset: start, declared: length, available: remaining)
        }
        // Stricter than notepack, which would substitute U+FFFD; a JSON string cannot hold broken UTF-8.
        guard let text = try? buffer.readUTF8ValidatedString(length: length) else {
            throw .invalidUTF8(offset: start)
        }
        return text
    }

    // MARK: Containers

    private mutating func readArray(count: Int, at start: Int) throws(MessagePackError) -> JSONValue {
        // Every element takes at least one byte, so a larger count cannot be honest.
        guard count <= remaining else {
            throw .lengthExceedsInput(offset: start, declared: count, available: remaining)
        }
        try enterContainer(at: start)
        defer { depth -= 1 }
        var items: [JSONValue] = []
        items.reserveCapacity(count)
        for _ in 0..<count {
            items.append(try readValue())
        }
        return .array(items)
    }

    private mutating func readMap(count: Int, at start: Int) throws(MessagePackError) -> JSONValue {
        // Every entry takes at least two bytes, a key and a value.
        guard count <= remaining / 2 else {
            throw .lengthExceedsInput(offset: start, declared: count, available: remaining)
        }
        try enterContainer(at: start)
        defer { depth -= 1 }
        var members: [JSONMember] = []
        members.reserveCapacity(count)
        // Repeated keys are looked up by scanning small maps and through an index for large ones,
        // so a hostile map of 65,535 keys stays linear.
        var positions: [String: Int]? = count > 16 ? [:] : nil
        for _ in 0..<count {
            let key = try readMapKey()
            let value = try readValue()
            let existing = if let positions { positions[key] } else { members.firstIndex { $0.key == key } }
            if let index = existing {
                members[index].value = value
            } else {
                positions?[key] = members.count
                members.append(JSONMember(key: key, value: value))
            }
        }
        return .object(members)
    }

    /// notepack assigns `object[key] = value`, so JavaScript turns any key into text. Strings and
    /// integers (room names such as `io.to(123)`) have an obvious text; other types are rejected
    /// before they are read, so a key cannot smuggle in deep nesting.
    private mutating func readMapKey() throws(MessagePackError) -> String {
        let start = offset
        let format = try read(UInt8.self)
        switch format {
        case 0xA0...0xBF, 0xD9...0xDB, 0x00...0x7F, 0xCC...0xD3, 0xE0...0xFF:
            switch try readValue(format: format, at: start) {
            case .string(let key): return key
            // The text JavaScript's String(number) gives, also for integers beyond 2^53.
            case .number(let number): return JSONValue.number(number).jsonText
            default: throw .unsupportedMapKey(offset: start, format: format)
            }
        default:
            throw .unsupportedMapKey(offset: start, format: format)
        }
    }

    private mutating func enterContainer(at start: Int) throws(MessagePackError) {
        guard depth < MessagePack.maximumDepth else {
            throw .nestingTooDeep(offset: start, limit: MessagePack.maximumDepth)
        }
        depth += 1
    }
}
