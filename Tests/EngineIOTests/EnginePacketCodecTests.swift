import NIOCore
import Testing
import TestSupport

@testable import EngineIO

@Suite("Engine.IO packet codec")
struct EnginePacketCodecTests {
    private let allocator = ByteBufferAllocator()

    private func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }
    private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
    private func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    private func decodeTextError(_ input: ByteBuffer) -> EngineDecodingError? {
        do {
            _ = try EnginePacketCodec.decodeText(input)
            return nil
        } catch {
            return error
        }
    }

    private func decodePayloadError(_ input: ByteBuffer) -> EngineDecodingError? {
        do {
            _ = try EnginePacketCodec.decodePayload(input)
            return nil
        } catch {
            return error
        }
    }

    // MARK: WebSocket text frames

    @Test func decodesEveryPacketTypeWithoutData() throws {
        let expected: [(String, EnginePacketType)] = [
            ("0", .open), ("1", .close), ("2", .ping), ("3", .pong), ("4", .message), ("5", .upgrade), ("6", .noop),
        ]
        for (text, type) in expected {
            #expect(try EnginePacketCodec.decodeText(buffer(text)) == EnginePacket(type))
        }
    }

    @Test func decodesTextData() throws {
        #expect(try EnginePacketCodec.decodeText(buffer("4hello")) == .message("hello"))
        #expect(try EnginePacketCodec.decodeText(buffer("2probe")) == EnginePacket(.ping, .text("probe")))
        #expect(try EnginePacketCodec.decodeText(buffer("3probe")) == EnginePacket(.pong, .text("probe")))
        #expect(try EnginePacketCodec.decodeText(buffer("42[\"foo\"]")) == .message("2[\"foo\"]"))
        #expect(try EnginePacketCodec.decodeText(buffer("4héllo €😀")) == .message("héllo €😀"))
        // A record separator means nothing inside a WebSocket frame.
        #expect(try EnginePacketCodec.decodeText(buffer("4a\u{1E}b")) == .message("a\u{1E}b"))
    }

    @Test func decodesTextFromTheReaderIndex() throws {
        var input = buffer("xx4hello")
        input.moveReaderIndex(forwardBy: 2)
        #expect(try EnginePacketCodec.decodeText(input) == .message("hello"))
    }

    @Test func rejectsEmptyTextFrame() {
        #expect(decodeTextError(buffer("")) == .emptyPacket)
    }

    @Test func rejectsUnknownPacketTypes() {
        #expect(decodeTextError(buffer("7")) == .unknownPacketType(UInt8(ascii: "7")))
        #expect(decodeTextError(buffer("9hello")) == .unknownPacketType(UInt8(ascii: "9")))
        #expect(decodeTextError(buffer("/")) == .unknownPacketType(UInt8(ascii: "/")))
        #expect(decodeTextError(buffer("bAQIDBA==")) == .unknownPacketType(UInt8(ascii: "b")))
        #expect(decodeTextError(buffer("hello")) == .unknownPacketType(UInt8(ascii: "h")))
        #expect(decodeTextError(buffer([0x00])) == .unknownPacketType(0x00))
        #expect(decodeTextError(buffer([0xFF, 0x34])) == .unknownPacketType(0xFF))
    }

    @Test func rejectsInvalidUTF8() {
        #expect(decodeTextError(buffer([0x34, 0xFF])) == .invalidUTF8)
        #expect(decodeTextError(buffer([0x34, 0x61, 0xC3])) == .invalidUTF8)  // truncated sequence
        #expect(decodeTextError(buffer([0x34, 0xC0, 0x80])) == .invalidUTF8)  // overlong NUL
        #expect(decodeTextError(buffer([0x34, 0xED, 0xA0, 0x80])) == .invalidUTF8)  // UTF-16 surrogate
        #expect(decodeTextError(buffer([0x34, 0xF4, 0x90, 0x80, 0x80])) == .invalidUTF8)  // beyond U+10FFFF
    }

    @Test func binaryFrameIsAMessageWithTheBytesAsTheyAre() {
        let data = buffer([0x00, 0x34, 0xFF, 0x1E])
        #expect(EnginePacketCodec.decodeBinary(data) == .message(data))
    }

    @Test func encodesWebSocketFrames() {
        let text = EnginePacketCodec.encodeForWebSocket(.message("hello"), allocator: allocator)
        #expect(text.buffer == buffer("4hello"))
        #expect(!text.isBinary)

        let probe = EnginePacketCodec.encodeForWebSocket(EnginePacket(.pong, .text("probe")), allocator: allocator)
        #expect(probe.buffer == buffer("3probe"))
        #expect(!probe.isBinary)

        let ping = EnginePacketCodec.encodeForWebSocket(.ping, allocator: allocator)
        #expect(ping.buffer == buffer("2"))
        #expect(!ping.isBinary)

        let close = EnginePacketCodec.encodeForWebSocket(.close, allocator: allocator)
        #expect(close.buffer == buffer("1"))

        let binary = EnginePacketCodec.encodeForWebSocket(.message(buffer([1, 2, 3, 4])), allocator: allocator)
        #expect(binary.buffer == buffer([1, 2, 3, 4]))
        #expect(binary.isBinary)
    }

    @Test func openPacketCarriesTheHandshakeJSON() {
        let json = #"{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        let frame = EnginePacketCodec.encodeForWebSocket(EnginePacket(.open, .text(json)), allocator: allocator)
        #expect(frame.buffer == buffer("0" + json))
        #expect(!frame.isBinary)
    }

    @Test func webSocketTextRoundTrip() throws {
        let packets: [EnginePacket] = [
            .ping, .pong, .noop, .close, EnginePacket(.upgrade), EnginePacket(.open, .text("{}")),
            .message("x"), .message("multi\nline\u{1E}with separator"), EnginePacket(.ping, .text("probe")),
        ]
        for packet in packets {
            let frame = EnginePacketCodec.encodeForWebSocket(packet, allocator: allocator)
            #expect(!frame.isBinary)
            #expect(try EnginePacketCodec.decodeText(frame.buffer) == packet)
        }
    }

    // MARK: Polling payloads

    @Test func decodesTheSpecTextPayloadExample() throws {
        let packets = try EnginePacketCodec.decodePayload(buffer("4hello\u{1E}2\u{1E}4world"))
        #expect(packets == [.message("hello"), .ping, .message("world")])
    }

    @Test func decodesTheSpecBinaryPayloadExample() throws {
        let packets = try EnginePacketCodec.decodePayload(buffer("4hello\u{1E}bAQIDBA=="))
        #expect(packets == [.message("hello"), .message(buffer([1, 2, 3, 4]))])
    }

    @Test func encodesTheSpecPayloadExamples() {
        let text = EnginePacketCodec.encodePayload([.message("hello"), .ping, .message("world")], allocator: allocator)
        #expect(bytes(text) == Array("4hello\u{1E}2\u{1E}4world".utf8))

        let binary = EnginePacketCodec.encodePayload([.message("hello"), .message(buffer([1, 2, 3, 4]))], allocator: allocator)
        #expect(bytes(binary) == Array("4hello\u{1E}bAQIDBA==".utf8))
    }

    @Test func encodesSinglePacketPayloadsWithoutSeparator() {
        #expect(bytes(EnginePacketCodec.encodePayload([.noop], allocator: allocator)) == Array("6".utf8))
        #expect(bytes(EnginePacketCodec.encodePayload([.message(buffer([]))], allocator: allocator)) == Array("b".utf8))
        #expect(bytes(EnginePacketCodec.encodePayload([], allocator: allocator)).isEmpty)
    }

    @Test func decodesSinglePacketPayloads() throws {
        #expect(try EnginePacketCodec.decodePayload(buffer("1")) == [.close])
        #expect(try EnginePacketCodec.decodePayload(buffer("40")) == [.message("0")])
        #expect(try EnginePacketCodec.decodePayload(buffer("bAA==")) == [.message(buffer([0]))])
        // Like engine.io-parser, "b" with nothing after it is an empty binary message.
        #expect(try EnginePacketCodec.decodePayload(buffer("b")) == [.message(buffer([]))])
    }

    @Test func decodesPayloadFromTheReaderIndex() throws {
        var input = buffer("\u{1E}\u{1E}junk4hello\u{1E}bAQIDBA==\u{1E}2")
        input.moveReaderIndex(forwardBy: 6)
        #expect(try EnginePacketCodec.decodePayload(input) == [.message("hello"), .message(buffer([1, 2, 3, 4])), .ping])
    }

    @Test func decodesPayloadSlicedOutOfALargerBuffer() throws {
        let whole = buffer("garbage|4a\u{1E}4b|garbage")
        let slice = whole.getSlice(at: 8, length: 5)!
        #expect(try EnginePacketCodec.decodePayload(slice) == [.message("a"), .message("b")])
    }

    @Test func rejectsEmptyPacketsInPayloads() {
        #expect(decodePayloadError(buffer("")) == .emptyPacket)
        #expect(decodePayloadError(buffer("\u{1E}")) == .emptyPacket)
        #expect(decodePayloadError(buffer("4a\u{1E}")) == .emptyPacket)
        #expect(decodePayloadError(buffer("\u{1E}4a")) == .emptyPacket)
        #expect(decodePayloadError(buffer("4a\u{1E}\u{1E}4b")) == .emptyPacket)
    }

    @Test func rejectsUnknownTypesInPayloads() {
        #expect(decodePayloadError(buffer("4a\u{1E}9b")) == .unknownPacketType(UInt8(ascii: "9")))
        #expect(decodePayloadError(buffer("B")) == .unknownPacketType(UInt8(ascii: "B")))
    }

    @Test func rejectsInvalidBase64InPayloads() {
        #expect(decodePayloadError(buffer("b!!!!")) == .invalidBase64)
        #expect(decodePayloadError(buffer("bAQI")) == .invalidBase64)  // not a multiple of four
        #expect(decodePayloadError(buffer("bAQIDBA=")) == .invalidBase64)
        #expect(decodePayloadError(buffer("bAQ==AQ==")) == .invalidBase64)  // padding in the middle
        #expect(decodePayloadError(buffer("4ok\u{1E}bAQID BA=")) == .invalidBase64)
        #expect(decodePayloadError(buffer([0x62, 0xFF, 0xFF, 0xFF, 0xFF])) == .invalidBase64)
    }

    @Test func rejectsInvalidUTF8InPayloads() {
        #expect(decodePayloadError(buffer([0x34, 0x61, 0x1E, 0x34, 0xFF])) == .invalidUTF8)
    }

    @Test func payloadRoundTripOfRandomPackets() throws {
        var random = SplitMix64(seed: 0xE16_1E)
        for round in 0..<500 {
            let count = Int.random(in: 1...6, using: &random)
            var packets: [EnginePacket] = []
            for _ in 0..<count {
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    packets.append(.message(ByteBuffer(bytes: random.bytes(count: Int.random(in: 0...40, using: &random)))))
                case 1:
                    // Text that never contains the record separator, non-empty so it stays a text payload.
                    let text = random.text(count: Int.random(in: 1...20, using: &random)) { $0 != "\u{1E}" }
                    packets.append(.message(text))
                case 2:
                    packets.append(EnginePacket([.ping, .pong, .noop, .close].randomElement(using: &random)!))
                default:
                    packets.append(EnginePacket(.ping, .text("probe")))
                }
            }
            let body = EnginePacketCodec.encodePayload(packets, allocator: allocator)
            let decoded = try EnginePacketCodec.decodePayload(body)
            #expect(decoded == packets, "round \(round)")
        }
    }
}
