import FuzzSupport
import NIOCore
import SocketIO
import SocketIORedis

// MessagePack decoding as the Redis adapter does it for every message it reads from Redis.
// Checked besides "no crash": the same bytes behind a reader index decode alike (offsets count
// from the reader index); error offsets lie inside the input; and a decoded value, written and read
// again, is written to the same bytes (bytes, not values, so that NaN compares equal).

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    var shifted = ByteBuffer(bytes: [0xC1, 0xC1] + bytes)
    shifted.moveReaderIndex(forwardBy: 2)
    let result = Result { () throws(MessagePackError) in try MessagePack.decode(ByteBuffer(bytes: bytes)) }
    let shiftedResult = Result { () throws(MessagePackError) in try MessagePack.decode(shifted) }

    switch (result, shiftedResult) {
    case (.failure(let error), .failure(let shiftedError)):
        require(error == shiftedError, "\(bytes): \(error) at reader index 0, \(shiftedError) at 2")
        require(offset(of: error) <= bytes.count, "\(bytes): error offset outside the input: \(error)")
        require(!error.description.isEmpty, "empty description of \(error)")
    case (.success(let value), .success(let shiftedValue)):
        let written = MessagePack.encode(value)
        require(MessagePack.encode(shiftedValue) == written, "\(bytes) decodes differently at reader index 2")
        guard let again = try? MessagePack.decode(ByteBuffer(bytes: written)) else {
            require(false, "\(bytes) decoded to \(value), whose encoding \(written) does not decode")
            return 0
        }
        require(MessagePack.encode(again) == written, "\(bytes) decoded to \(value), written as \(written), read back as \(again)")
    default:
        require(false, "\(bytes): \(result) at reader index 0, \(shiftedResult) at 2")
    }
    return 0
}

func offset(of error: MessagePackError) -> Int {
    switch error {
    case .truncated(let offset), .reservedFormat(let offset), .invalidUTF8(let offset), .invalidTimestamp(let offset):
        offset
    case .lengthExceedsInput(let offset, _, _), .trailingBytes(let offset, _), .unsupportedMapKey(let offset, _),
        .nestingTooDeep(let offset, _):
        offset
    }
}

/// The byte vectors of the MessagePack tests: the wire-format spec's, extension types, numbers, errors.
let seeds: [[UInt8]] = WireVectors.all + [
    "cb 3f f8 00 00 00 00 00 00",
    // MessagePackExtensionTests: timestamps, undefined, 2.x dates and buffers, other extensions.
    "d6ff39457980", "d6ffffffffff", "d7ff1d6f345439457980", "d7ffee6b27ffffffffff", "c70cff1dcd6500ffffffffffffffff",
    "c70cff00000000000007dba8218000", "c70cff00000000000007dba8218001", "c70cff000000008000000000000000",
    "d7ffee6b2800ffffffff", "d40000", "92d40000c3", "81a161d40000", "d700000000dfb8e6c6fb", "c70300010203",
    "c8000300010203", "c90000000300010203", "c70000", "d405aa", "d5ff0102", "d6800a0b0c0d", "d7010102030405060708",
    "d87f" + String(repeating: "ee", count: 16), "c70210abcd", "c704ff39457980", "c8000110ff", "c900000000fe",
    // MessagePackDecodingTests: floats, wide integers, scalars, maps with repeated and integer keys.
    "ca7fc00000", "cb7ff8000000000000", "cf0020000000000001", "cfffffffffffffffff", "d37fffffffffffffff",
    "d3ffdfffffffffffff", "c0", "c2", "c3", "82a16101a16102", "83a16101a16202a16103", "82a131010102", "81cc7bc3",
    "dc0001c0", "dd00000001c0", "de0001a0c0", "df00000001a0c0", "d9026869", "da00026869", "db000000026869",
    "c40201ff", "c5000201ff", "c600000002 01ff", "e0", "ff", "d080", "d18000", "d280000000", "cc80", "cd8000", "ce80000000",
    // MessagePackErrorTests: trailing bytes, the reserved byte, broken UTF-8, bad keys, short inputs.
    "c0c0", "c1", "81a0c1", "81a1ffc0", "9181c3c0", "dc", "dcffff", "dfffffffff", "c4ff", "d9ffaa", "93c0",
    String(repeating: "91", count: MessagePack.maximumDepth) + "c0",
].map(hexBytes)
