/// Why bytes could not be decoded as MessagePack. Offsets count from the first readable byte.
public enum MessagePackError: Error, Equatable, Sendable {
    /// The input ended inside a value; `offset` is where it ended, its length.
    case truncated(offset: Int)
    /// A length at `offset` declares more bytes, or more elements than there are bytes, than the
    /// input has left. Checked before anything is allocated.
    case lengthExceedsInput(offset: Int, declared: Int, available: Int)
    /// One complete value was read, but `count` bytes follow it. notepack rejects these too.
    case trailingBytes(offset: Int, count: Int)
    /// `0xC1` is the one format byte MessagePack never assigned.
    case reservedFormat(offset: Int)
    /// A string's bytes are not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// A map key is neither a string nor an integer. JSON objects only have string keys.
    case unsupportedMapKey(offset: Int, format: UInt8)
    /// Arrays and maps nest deeper than ``MessagePack/maximumDepth``.
    case nestingTooDeep(offset: Int, limit: Int)
    /// A timestamp extension whose nanoseconds exceed 999,999,999, which its specification forbids.
    case invalidTimestamp(offset: Int)
}

extension MessagePackError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .truncated(let offset):
            "msgpack input ends early at byte \(offset)"
        case .lengthExceedsInput(let offset, let declared, let available):
            "msgpack length \(declared) at byte \(offset) exceeds the \(available) bytes left"
        case .trailingBytes(let offset, let count):
            "\(count) trailing bytes after the msgpack value, from byte \(offset)"
        case .reservedFormat(let offset):
            "reserved msgpack format 0xc1 at byte \(offset)"
        case .invalidUTF8(let offset):
            "msgpack string at byte \(offset) is not valid UTF-8"
        case .unsupportedMapKey(let offset, let format):
            "msgpack map key at byte \(offset) has format 0x\(String(format, radix: 16)), not a string or integer"
        case .nestingTooDeep(let offset, let limit):
            "msgpack nesting deeper than \(limit) at byte \(offset)"
        case .invalidTimestamp(let offset):
            "msgpack timestamp at byte \(offset) has more than 999999999 nanoseconds"
        }
    }
}
