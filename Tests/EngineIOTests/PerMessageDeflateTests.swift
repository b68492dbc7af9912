import NIOCore
import Testing

@testable import EngineIO

/// permessage-deflate: what is agreed to for each offer, and whole-message deflate and inflate.
@Suite("permessage-deflate")
struct PerMessageDeflateTests {
    private let agreed = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    @Test("offers and what is agreed to", arguments: [
        ("permessage-deflate", 15, ""),
        ("permessage-deflate; client_max_window_bits", 15, ""),
        ("permessage-deflate; client_max_window_bits=10; server_no_context_takeover", 15, ""),
        ("permessage-deflate; server_max_window_bits=9", 9, "; server_max_window_bits=9"),
        ("PerMessage-Deflate ; server_max_window_bits=\"12\"", 12, "; server_max_window_bits=12"),
        ("x-other, permessage-deflate; server_max_window_bits=8, permessage-deflate", 15, ""),
    ])
    func accepted(offer: String, bits: Int32, suffix: String) throws {
        let result = try #require(WebSocketDeflate.negotiate(offer, threshold: 1024))
        #expect(result.agreed == WebSocketDeflate(threshold: 1024, serverWindowBits: bits))
        #expect(result.header == agreed + suffix)
    }

    @Test("offers that cannot be kept", arguments: [
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
        "",
    ])
    func refused(offer: String) {
        #expect(WebSocketDeflate.negotiate(offer, threshold: 1024) == nil)
    }

    @Test("a message deflated and inflated again is itself, and the tail is left out")
    func roundTrip() throws {
        let text = ByteBuffer(string: String(repeating: "bid 12.50 on item 7; ", count: 200))
        let compressed = try #require(MessageDeflate.compress(text, windowBits: 15))
        #expect(compressed.readableBytes < text.readableBytes / 10)
        #expect(!Array(compressed.readableBytesView).suffix(4).elementsEqual([0x00, 0x00, 0xFF, 0xFF]))
        #expect(try MessageDeflate.inflate(compressed, limit: 1_000_000) == text)
        // The pooled streams start afresh: the same input makes the same bytes.
        #expect(MessageDeflate.compress(text, windowBits: 15) == compressed)
        let small = try #require(MessageDeflate.compress(text, windowBits: 9))
        #expect(try MessageDeflate.inflate(small, limit: 1_000_000) == text)
    }

    @Test("inflating stops at the limit, and garbage is invalid")
    func inflateBounds() throws {
        let zeros = ByteBuffer(repeating: 0x30, count: 2_000_000)
        let bomb = try #require(MessageDeflate.compress(zeros, windowBits: 15))
        #expect(throws: InflateError.tooLarge) { try MessageDeflate.inflate(bomb, limit: 1_000_000) }
        #expect(try MessageDeflate.inflate(bomb, limit: 2_000_000) == zeros)
        #expect(throws: InflateError.invalid) { try MessageDeflate.inflate(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x01]), limit: 1000) }
    }

    @Test("frames from the threshold are compressed with RSV1, smaller ones are not")
    func frames() throws {
        let deflate = WebSocketDeflate(threshold: 100, serverWindowBits: 15)
        let big = EnginePacket.message(String(repeating: "x", count: 500))
        let frame = EnginePacketCodec.encodeWebSocketFrame(big, allocator: ByteBufferAllocator(), deflate: deflate)
        #expect(frame.getInteger(at: 0, as: UInt8.self) == 0xC1)
        let payload = try #require(frame.getSlice(at: 2, length: frame.readableBytes - 2))
        #expect(try MessageDeflate.inflate(payload, limit: 1000) == ByteBuffer(string: "4" + String(repeating: "x", count: 500)))
        let small = EnginePacketCodec.encodeWebSocketFrame(.message("hi"), allocator: ByteBufferAllocator(), deflate: deflate)
        #expect(small == EnginePacketCodec.encodeWebSocketFrame(.message("hi"), allocator: ByteBufferAllocator()))
        // A broadcast's packet is compressed once and the frame shared.
        let prepared = PreparedMessages([.text(String(repeating: "y", count: 500))], compressible: true)
        let first = EnginePacketCodec.encodeWebSocketFrame(prepared.packets[0], allocator: ByteBufferAllocator(), deflate: deflate)
        let second = EnginePacketCodec.encodeWebSocketFrame(prepared.packets[0], allocator: ByteBufferAllocator(), deflate: deflate)
        #expect(first.getInteger(at: 0, as: UInt8.self) == 0xC1)
        #expect(first.withUnsafeReadableBytes { $0.baseAddress } == second.withUnsafeReadableBytes { $0.baseAddress })
    }
}
