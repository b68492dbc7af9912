import NIOCore
import Testing
import TestSupport

@testable import EngineIO

/// Random and mutated inputs for the Engine.IO decoders. Deterministic: a failure names its seed and round.
@Suite("Engine.IO codec fuzzing")
struct EnginePacketCodecFuzzTests {
    static let seed: UInt64 = 0x5EED_E161
    static let rounds = 100_000

    /// Well-formed bodies and frames that the mutations start from.
    static let corpus: [[UInt8]] = [
        "4hello\u{1E}2\u{1E}4world", "4hello\u{1E}bAQIDBA==", "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"]}",
        "2probe", "3probe", "5", "6", "1", "42[\"foo\"]", "451-[\"baz\",{\"_placeholder\":true,\"num\":0}]\u{1E}bAQIDBA==",
        "4é😀\u{1E}b\u{1E}4", "bAA==\u{1E}bAAA=\u{1E}bAAAA",
    ].map { Array($0.utf8) }

    static let interesting: [UInt8] = Array("0123456b=+/\u{1E}".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xE2, 0xF0, 0xFF]

    static func mutate(_ input: [UInt8], using random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where !bytes.isEmpty: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            case 1 where !bytes.isEmpty: bytes[position] = interesting.randomElement(using: &random)!
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes.insert(interesting.randomElement(using: &random)!, at: position)
            case 4: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
            case 5 where !bytes.isEmpty: bytes.removeLast(Int.random(in: 0...bytes.count - position, using: &random))
            default: break
            }
        }
        return bytes
    }

    static func input(round: Int, using random: inout SplitMix64) -> [UInt8] {
        switch round % 4 {
        case 0:
            return random.bytes(count: Int.random(in: 0...24, using: &random))
        case 1:
            let alphabet = interesting + Array("4bAQIDBAhello".utf8)
            return (0..<Int.random(in: 0...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
        default:
            return mutate(corpus.randomElement(using: &random)!, using: &random)
        }
    }

    @Test func decodersNeverCrashAndDecodedPacketsRoundTrip() throws {
        var random = SplitMix64(seed: Self.seed)
        let allocator = ByteBufferAllocator()
        var failures = 0
        var decodedPayloads = 0
        var decodedFrames = 0
        for round in 0..<Self.rounds where failures < 10 {
            let bytes = Self.input(round: round, using: &random)
            let buffer = ByteBuffer(bytes: bytes)

            if let packets = try? EnginePacketCodec.decodePayload(buffer) {
                decodedPayloads += 1
                let again = try? EnginePacketCodec.decodePayload(EnginePacketCodec.encodePayload(packets, allocator: allocator))
                if again != packets {
                    failures += 1
                    Issue.record("seed \(Self.seed) round \(round): payload \(bytes) decoded to \(packets), re-decoded to \(String(describing: again))")
                }
            }

            if let packet = try? EnginePacketCodec.decodeText(buffer) {
                decodedFrames += 1
                let frame = EnginePacketCodec.encodeForWebSocket(packet, allocator: allocator)
                let again = try? EnginePacketCodec.decodeText(frame.buffer)
                if frame.isBinary || again != packet || frame.buffer != buffer {
                    failures += 1
                    Issue.record("seed \(Self.seed) round \(round): frame \(bytes) decoded to \(packet), re-decoded to \(String(describing: again))")
                }
            }

            _ = EnginePacketCodec.decodeBinary(buffer)
        }
        #expect(failures == 0)
        // The corpus mutations must reach the success paths, or the round trip checks prove nothing.
        #expect(decodedPayloads > Self.rounds / 20)
        #expect(decodedFrames > Self.rounds / 20)
    }
}
