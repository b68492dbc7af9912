import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import EngineIO

/// Our server frames are written past NIO's encoder; NIO's decoder is the judge of their bytes.
@Suite("WebSocket frames built by the codec")
struct WebSocketFrameEncodingTests {
    private let allocator = ByteBufferAllocator()

    /// Feeds raw bytes to NIO's frame decoder, as a client would read them.
    private func decodeWithNIO(_ bytes: ByteBuffer) throws -> [WebSocketFrame] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 20)))
        try channel.writeInbound(bytes)
        var frames: [WebSocketFrame] = []
        while let frame = try channel.readInbound(as: WebSocketFrame.self) { frames.append(frame) }
        _ = try channel.finish()
        return frames
    }

    @Test(arguments: [0, 1, 124, 125, 126, 65_535, 65_536, 200_000])
    func textFramesOfEveryLengthClassDecode(length: Int) throws {
        let text = String(repeating: "é", count: length / 2) + String(repeating: "a", count: length % 2)
        let packet = EnginePacket.message(text)
        let frame = EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator)
        let decoded = try decodeWithNIO(frame)
        #expect(decoded.count == 1)
        #expect(decoded.first?.fin == true)
        #expect(decoded.first?.opcode == .text)
        #expect(decoded.first?.maskKey == nil)
        #expect(decoded.first.map { Array($0.unmaskedData.readableBytesView) } == Array(("4" + text).utf8))
    }

    @Test func headerLengthFieldsAreTheShortestForm() {
        func header(_ payloadLength: Int) -> [UInt8] {
            let frame = EnginePacketCodec.encodeWebSocketFrame(.message(ByteBuffer(repeating: 7, count: payloadLength)), allocator: allocator)
            return Array(frame.readableBytesView.prefix(payloadLength < 126 ? 2 : payloadLength <= 65_535 ? 4 : 10))
        }
        #expect(header(5) == [0x82, 5])
        #expect(header(125) == [0x82, 125])
        #expect(header(126) == [0x82, 126, 0, 126])
        #expect(header(65_535) == [0x82, 126, 0xFF, 0xFF])
        #expect(header(65_536) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test func controlPacketsAndBinaryMessages() throws {
        let ping = try decodeWithNIO(EnginePacketCodec.encodeWebSocketFrame(.ping, allocator: allocator))
        #expect(ping.map(\.opcode) == [.text])
        #expect(ping.map { Array($0.unmaskedData.readableBytesView) } == [[UInt8(ascii: "2")]])

        let bytes = ByteBuffer(bytes: [0, 0x1E, 0xFF, 0x34])
        let binary = try decodeWithNIO(EnginePacketCodec.encodeWebSocketFrame(.message(bytes), allocator: allocator))
        #expect(binary.map(\.opcode) == [.binary])
        #expect(binary.first?.unmaskedData == bytes)
    }

    @Test func preparedMessagesShareOneFrameAcrossSessions() throws {
        let prepared = PreparedMessages([.text(#"2["bid",{"amount":10}]"#), .binary(ByteBuffer(bytes: [1, 2, 3]))])
        let first = prepared.packets.map { EnginePacketCodec.encodeWebSocketFrame($0, allocator: allocator) }
        let second = prepared.packets.map { EnginePacketCodec.encodeWebSocketFrame($0, allocator: allocator) }
        #expect(first == second)
        // The same storage, not an equal copy: a broadcast encodes its frames once.
        for (a, b) in zip(first, second) {
            a.withUnsafeReadableBytes { x in b.withUnsafeReadableBytes { y in #expect(x.baseAddress == y.baseAddress) } }
        }
        var stream = ByteBuffer()
        for frame in first { stream.writeImmutableBuffer(frame) }
        let decoded = try decodeWithNIO(stream)
        #expect(decoded.map(\.opcode) == [.text, .binary])
        #expect(decoded.first.map { String(buffer: $0.unmaskedData) } == #"42["bid",{"amount":10}]"#)
    }
}
