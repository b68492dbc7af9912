import EngineIO
import NIOCore
import Testing

@testable import SocketIO

@Suite("Socket.IO attachment bounds")
struct SocketIOAttachmentLimitTests {
    private func placeholders(_ count: Int) -> String {
        (0..<count).map { #"{"_placeholder":true,"num":\#($0)}"# }.joined(separator: ",")
    }

    @Test func attachmentsOfOnePacketMayAddUpToMaxPayload() throws {
        var decoder = SocketIOPacketDecoder(maxPayload: 100)
        #expect(try decoder.decode(.text(#"52-["x",[\#(placeholders(2))]]"#)) == nil)
        #expect(try decoder.decode(.binary(ByteBuffer(repeating: 1, count: 60))) == nil)
        let packet = try #require(try decoder.decode(.binary(ByteBuffer(repeating: 2, count: 40))))
        #expect(packet.data?.arrayValue?[1].arrayValue?.count == 2)
    }

    @Test func oneByteOverMaxPayloadIsRefusedAtTheFrameThatCrossesIt() throws {
        var decoder = SocketIOPacketDecoder(maxPayload: 100)
        _ = try decoder.decode(.text(#"53-["x",[\#(placeholders(3))]]"#))
        _ = try decoder.decode(.binary(ByteBuffer(repeating: 1, count: 60)))
        #expect(throws: SocketIODecodingError.attachmentsTooLarge) {
            try decoder.decode(.binary(ByteBuffer(repeating: 1, count: 41)))
        }
    }

    @Test func theDecoderForgetsARefusedPacket() throws {
        var decoder = SocketIOPacketDecoder(maxPayload: 10)
        _ = try decoder.decode(.text(#"51-["x",\#(placeholders(1))]"#))
        #expect(throws: SocketIODecodingError.attachmentsTooLarge) {
            try decoder.decode(.binary(ByteBuffer(repeating: 1, count: 11)))
        }
        // Nothing of the refused packet is held: a binary frame now is a stray one.
        #expect(throws: SocketIODecodingError.unexpectedBinary) {
            try decoder.decode(.binary(ByteBuffer(repeating: 1, count: 1)))
        }
    }

    @Test(arguments: [(1_000_000, 1000), (29_000, 1000), (2_900, 100), (28, 1)])
    func theAttachmentCountFollowsMaxPayload(maxPayload: Int, limit: Int) {
        #expect(SocketIOPacketDecoder(maxPayload: maxPayload).attachmentLimit == limit)
    }

    @Test func aHeaderDeclaringMoreThanMaxPayloadCanReferToIsRefused() throws {
        var decoder = SocketIOPacketDecoder(maxPayload: 2_900)
        #expect(throws: SocketIODecodingError.illegalAttachments) {
            try decoder.decode(.text(#"5101-["x",\#(placeholders(1))]"#))
        }
        var roomy = SocketIOPacketDecoder(maxPayload: 2_900)
        #expect(try roomy.decode(.text(#"5100-["x",\#(placeholders(1))]"#)) == nil)
    }
}
