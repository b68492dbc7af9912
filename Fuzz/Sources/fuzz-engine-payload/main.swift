import EngineIO
import FuzzSupport
import NIOCore

// A long-polling POST body as Engine.IO reads it: packets joined by the record separator 0x1E,
// binary ones as `b` + base64. Checked besides "no crash": one packet per separated part; a body
// is refused with the error of its first refused part, each part decoded alone; and decoded
// packets, written as a body and read again, are the same packets.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

let allocator = ByteBufferAllocator()

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    let parts = bytes.split(separator: 0x1E, omittingEmptySubsequences: false)
    do {
        let packets = try EnginePacketCodec.decodePayload(ByteBuffer(bytes: bytes))
        require(packets.count == parts.count, "\(bytes) has \(parts.count) parts, decoded to \(packets.count) packets")
        let body = EnginePacketCodec.encodePayload(packets, allocator: allocator)
        let again = try? EnginePacketCodec.decodePayload(body)
        require(again == packets, "\(bytes) decoded to \(packets), written as \(body), read back as \(String(describing: again))")
    } catch {
        var first: EngineDecodingError?
        for part in parts where first == nil {
            do {
                _ = try EnginePacketCodec.decodePayload(ByteBuffer(bytes: part))
            } catch {
                first = error
            }
        }
        require(first == error, "\(bytes) refused with \(error), its first refused part with \(String(describing: first))")
    }
    return 0
}

/// The bodies of EnginePacketCodecTests and EnginePacketCodecFuzzTests.
let seeds: [[UInt8]] = [
    "4hello\u{1E}2\u{1E}4world", "4hello\u{1E}bAQIDBA==", "6", "b", "bAA==\u{1E}bAAA=\u{1E}bAAAA", "4é😀\u{1E}b\u{1E}4",
    "451-[\"baz\",{\"_placeholder\":true,\"num\":0}]\u{1E}bAQIDBA==", "2probe\u{1E}5", "1", "", "\u{1E}", "4\u{1E}",
    "bAQID", "bAQ=D", "b====", "bAB==", "b!!!!", "40/admin,{\"token\":\"abc\"}\u{1E}42/admin,[\"bid\",{\"amount\":10}]",
].map { Array($0.utf8) } + [[0x34, 0xFF], [0x62, 0xFF, 0x41, 0x41, 0x41], [0x34, 0x61, 0x1E, 0x34, 0xC3]]
