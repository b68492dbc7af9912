import EngineIO
import FuzzSupport
import NIOCore

// One WebSocket frame's payload as Engine.IO reads it, as text and as binary. The outcome of a
// text frame is fully determined (`<type digit>[<UTF-8 data>]`), so every result and every error
// is checked against that rule; a decoded packet must be written back to exactly its input, and
// its server frame (header written by us, past NIO's encoder) must carry it in the shortest form.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

let allocator = ByteBufferAllocator()

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    let buffer = ByteBuffer(bytes: bytes)
    let digit = bytes.first.map { $0 &- UInt8(ascii: "0") }

    do {
        let packet = try EnginePacketCodec.decodeText(buffer)
        require(digit.map { $0 <= 6 } == true && String(validating: bytes.dropFirst(), as: UTF8.self) != nil, "accepted \(bytes)")
        require(packet.type.rawValue == digit, "\(bytes) decoded as type \(packet.type)")
        require((packet.payload == nil) == (bytes.count == 1), "\(bytes) decoded with payload \(String(describing: packet.payload))")
        let (written, isBinary) = EnginePacketCodec.encodeForWebSocket(packet, allocator: allocator)
        require(!isBinary && Array(written.readableBytesView) == bytes, "\(bytes) decoded to \(packet), written back as \(written)")
        checkServerFrame(EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator), opcode: 0x1, payload: bytes)
    } catch {
        let expected: EngineDecodingError =
            if let first = bytes.first {
                digit! <= 6 ? .invalidUTF8 : .unknownPacketType(first)
            } else {
                .emptyPacket
            }
        require(error == expected, "\(bytes) rejected with \(error), expected \(expected)")
    }

    let binary = EnginePacketCodec.decodeBinary(buffer)
    require(binary == .message(buffer), "binary frame \(bytes) decoded to \(binary)")
    let (written, isBinary) = EnginePacketCodec.encodeForWebSocket(binary, allocator: allocator)
    require(isBinary && written == buffer, "binary message \(bytes) written back as \(written)")
    checkServerFrame(EnginePacketCodec.encodeWebSocketFrame(binary, allocator: allocator), opcode: 0x2, payload: bytes)
    return 0
}

/// RFC 6455 §5.2 for a server frame: FIN, the opcode, no mask, the shortest length form.
func checkServerFrame(_ frame: ByteBuffer, opcode: UInt8, payload: [UInt8]) {
    let bytes = Array(frame.readableBytesView)
    let header: [UInt8] =
        if payload.count < 126 {
            [0x80 | opcode, UInt8(payload.count)]
        } else if payload.count <= Int(UInt16.max) {
            [0x80 | opcode, 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            [0x80 | opcode, 127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
    require(bytes == header + payload, "frame for \(payload) is \(bytes)")
}

/// The frames of EnginePacketCodecTests and EnginePacketCodecFuzzTests.
let seeds: [[UInt8]] =
    [
        "0", "1", "2", "3", "4", "5", "6", "4hello", "2probe", "3probe", "42[\"foo\"]", "4héllo €😀", "4a\u{1E}b", "7",
        "9hello", "/", "bAQIDBA==", "hello", "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"]}", "4é😀",
        #"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        "451-[\"baz\",{\"_placeholder\":true,\"num\":0}]", "4multi\nline\u{1E}with separator",
    ].map { Array($0.utf8) } + [
        [], [0x00], [0xFF, 0x34], [0x34, 0xFF], [0x34, 0x61, 0xC3], [0x34, 0xC0, 0x80], [0x34, 0xED, 0xA0, 0x80],
        [0x34, 0xF4, 0x90, 0x80, 0x80], [0x00, 0x34, 0xFF, 0x1E], Array(repeating: 0x34, count: 130),
    ]
