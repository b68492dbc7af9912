import NIOCore

/// Why an Engine.IO packet or payload could not be decoded.
public enum EngineDecodingError: Error, Equatable, Sendable {
    case emptyPacket
    case unknownPacketType(UInt8)
    case invalidUTF8
    case invalidBase64
}

/// Encoding and decoding of Engine.IO v4 packets, for WebSocket frames and polling payloads.
public enum EnginePacketCodec {
    static let recordSeparator: UInt8 = 0x1E

    // MARK: WebSocket

    /// Decodes a text WebSocket frame: `<type>[<data>]`.
    public static func decodeText(_ buffer: ByteBuffer) throws(EngineDecodingError) -> EnginePacket {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { throw .emptyPacket }
        guard first >= UInt8(ascii: "0"), let type = EnginePacketType(rawValue: first &- UInt8(ascii: "0")) else {
            throw .unknownPacketType(first)
        }
        let dataLength = buffer.readableBytes - 1
        if dataLength == 0 { return EnginePacket(type) }
        guard let text = try? buffer.getUTF8ValidatedString(at: buffer.readerIndex + 1, length: dataLength) else {
            throw .invalidUTF8
        }
        return EnginePacket(type, .text(text))
    }

    /// A binary WebSocket frame is always a `message` packet carrying the bytes as they are.
    public static func decodeBinary(_ buffer: ByteBuffer) -> EnginePacket {
        EnginePacket(.message, .binary(buffer))
    }

    /// Encodes one packet for a WebSocket frame; `isBinary` tells which frame opcode to use.
    public static func encodeForWebSocket(_ packet: EnginePacket, allocator: ByteBufferAllocator) -> (buffer: ByteBuffer, isBinary: Bool) {
        if case .binary(let bytes) = packet.payload { return (bytes, true) }
        var buffer = allocator.buffer(capacity: textLength(packet))
        writeText(packet, into: &buffer)
        return (buffer, false)
    }

    /// Bytes of a text or payload-less packet written as `<type>[<text>]`.
    private static func textLength(_ packet: EnginePacket) -> Int {
        if case .text(let text) = packet.payload { return 1 + text.utf8.count }
        return 1
    }

    private static func writeText(_ packet: EnginePacket, into buffer: inout ByteBuffer) {
        buffer.writeInteger(packet.type.character)
        if case .text(let text) = packet.payload { buffer.writeString(text) }
    }

    /// Encodes one packet as a whole server-to-client WebSocket frame (RFC 6455 section 5.2:
    /// FIN, opcode, length, no mask), header and payload in one buffer.
    public static func encodeWebSocketFrame(_ packet: EnginePacket, allocator: ByteBufferAllocator) -> ByteBuffer {
        if let frame = packet.webSocketFrame { return frame }
        var binary: ByteBuffer?
        if case .binary(let bytes) = packet.payload { binary = bytes }
        let length = binary?.readableBytes ?? textLength(packet)
        var buffer = allocator.buffer(capacity: length + 10)
        writeFrameHeader(opcode: binary == nil ? 0x1 : 0x2, compressed: false, length: length, into: &buffer)
        if let binary {
            buffer.writeImmutableBuffer(binary)
        } else {
            writeText(packet, into: &buffer)
        }
        return buffer
    }

    /// The frame for a session that agreed to permessage-deflate: compressed (RSV1 set) from
    /// the agreed threshold, as it is below it or if compression fails.
    static func encodeWebSocketFrame(_ packet: EnginePacket, allocator: ByteBufferAllocator, deflate: WebSocketDeflate?) -> ByteBuffer {
        guard let deflate else { return encodeWebSocketFrame(packet, allocator: allocator) }
        var binary: ByteBuffer?
        if case .binary(let bytes) = packet.payload { binary = bytes }
        guard (binary?.readableBytes ?? textLength(packet)) >= deflate.threshold else { return encodeWebSocketFrame(packet, allocator: allocator) }
        func compressedFrame() -> ByteBuffer? {
            var payload: ByteBuffer
            if let binary {
                payload = binary
            } else {
                payload = allocator.buffer(capacity: textLength(packet))
                writeText(packet, into: &payload)
            }
            guard let compressed = MessageDeflate.compress(payload, windowBits: deflate.serverWindowBits) else { return nil }
            var frame = allocator.buffer(capacity: compressed.readableBytes + 10)
            writeFrameHeader(opcode: binary == nil ? 0x1 : 0x2, compressed: true, length: compressed.readableBytes, into: &frame)
            frame.writeImmutableBuffer(compressed)
            return frame
        }
        let frame = deflate.serverWindowBits == 15 && packet.compressedFrame != nil ? packet.compressedFrame!.get(compressedFrame) : compressedFrame()
        return frame ?? encodeWebSocketFrame(packet, allocator: allocator)
    }

    /// FIN, RSV1 when compressed, the opcode, and the unmasked payload length (RFC 6455 §5.2).
    private static func writeFrameHeader(opcode: UInt8, compressed: Bool, length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x80) | (compressed ? 0x40 : 0) | opcode)
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }

    // MARK: Polling

    /// Decodes a polling request body: packets joined by the record separator, binary as `b` + base64.
    public static func decodePayload(_ body: ByteBuffer) throws(EngineDecodingError) -> [EnginePacket] {
        let view = body.readableBytesView
        var packets: [EnginePacket] = []
        var start = view.startIndex
        while true {
            let end = view[start...].firstIndex(of: recordSeparator) ?? view.endIndex
            let slice = body.getSlice(at: start, length: end - start)!
            packets.append(try decodePayloadPacket(slice))
            if end == view.endIndex { break }
            start = end + 1
        }
        return packets
    }

    private static func decodePayloadPacket(_ buffer: ByteBuffer) throws(EngineDecodingError) -> EnginePacket {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { throw .emptyPacket }
        if first == UInt8(ascii: "b") {
            guard let encoded = buffer.getString(at: buffer.readerIndex + 1, length: buffer.readableBytes - 1),
                let bytes = Base64.decode(encoded)
            else { throw .invalidBase64 }
            return EnginePacket(.message, .binary(ByteBuffer(bytes: bytes)))
        }
        return try decodeText(buffer)
    }

    /// Encodes packets as one polling response body.
    public static func encodePayload(_ packets: [EnginePacket], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        for (index, packet) in packets.enumerated() {
            if index > 0 { buffer.writeInteger(recordSeparator) }
            if case .binary(let bytes) = packet.payload {
                buffer.writeInteger(UInt8(ascii: "b"))
                buffer.writeString(Base64.encode(bytes.readableBytesView))
            } else {
                writeText(packet, into: &buffer)
            }
        }
        return buffer
    }
}
