import EngineIO
import NIOCore
import Testing

@testable import SocketIO

/// Every example of the Socket.IO v5 spec's "Packet encoding" section, byte for byte.
@Suite("Socket.IO packet encoder")
struct SocketIOPacketEncoderTests {
    private func binary(_ bytes: [UInt8]) -> JSONValue { .binary(ByteBuffer(bytes: bytes)) }
    private func attachment(_ bytes: [UInt8]) -> EngineMessage { .binary(ByteBuffer(bytes: bytes)) }

    @Test func connectToTheMainNamespace() {
        #expect(SocketIOPacketEncoder.encode(SocketIOPacket(type: .connect)) == [.text("0")])
    }

    @Test func connectToACustomNamespace() {
        let packet = SocketIOPacket(type: .connect, namespace: "/admin", data: ["sid": "oSO0OpakMV_3jnilAAAA"])
        #expect(SocketIOPacketEncoder.encode(packet) == [.text(#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#)])
    }

    @Test func connectionRefused() {
        let packet = SocketIOPacket(type: .connectError, data: ["message": "Not authorized"])
        #expect(SocketIOPacketEncoder.encode(packet) == [.text(#"4{"message":"Not authorized"}"#)])
    }

    @Test func eventInTheMainNamespace() {
        #expect(SocketIOPacketEncoder.encode(.event("foo", [])) == [.text(#"2["foo"]"#)])
    }

    @Test func eventInACustomNamespace() {
        #expect(SocketIOPacketEncoder.encode(.event("bar", [], namespace: "/admin")) == [.text(#"2/admin,["bar"]"#)])
    }

    @Test func eventWithBinaryData() {
        let expected: [EngineMessage] = [
            .text(#"51-["baz",{"_placeholder":true,"num":0}]"#), attachment([1, 2, 3, 4]),
        ]
        // Written as an EVENT the encoder promotes it; written as BINARY_EVENT it stays one.
        #expect(SocketIOPacketEncoder.encode(.event("baz", [binary([1, 2, 3, 4])])) == expected)
        let explicit = SocketIOPacket(type: .binaryEvent, data: ["baz", binary([1, 2, 3, 4])])
        #expect(SocketIOPacketEncoder.encode(explicit) == expected)
    }

    @Test func eventWithMultipleAttachments() {
        let packet = SocketIOPacket(type: .binaryEvent, namespace: "/admin", data: ["baz", binary([1, 2]), binary([3, 4])])
        #expect(
            SocketIOPacketEncoder.encode(packet) == [
                .text(#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
                attachment([1, 2]), attachment([3, 4]),
            ])
    }

    @Test func eventWrappedInAnEngineMessage() {
        let messages = SocketIOPacketEncoder.encode(.event("foo", []))
        guard case .text(let text) = messages.first else {
            Issue.record("expected text, got \(messages)")
            return
        }
        let frame = EnginePacketCodec.encodeForWebSocket(.message(text), allocator: ByteBufferAllocator())
        #expect(frame.buffer == ByteBuffer(string: #"42["foo"]"#))
    }

    @Test func eventWithAckID() {
        #expect(SocketIOPacketEncoder.encode(.event("foo", [], id: 12)) == [.text(#"212["foo"]"#)])
    }

    @Test func ackInACustomNamespace() {
        #expect(SocketIOPacketEncoder.encode(.ack(["bar"], namespace: "/admin", id: 13)) == [.text(#"3/admin,13["bar"]"#)])
    }

    @Test func ackWithBinaryData() {
        let expected: [EngineMessage] = [.text(#"61-15["bar",{"_placeholder":true,"num":0}]"#), attachment([1, 2, 3, 4])]
        #expect(SocketIOPacketEncoder.encode(.ack(["bar", binary([1, 2, 3, 4])], namespace: "/", id: 15)) == expected)
        let explicit = SocketIOPacket(type: .binaryAck, data: ["bar", binary([1, 2, 3, 4])], id: 15)
        #expect(SocketIOPacketEncoder.encode(explicit) == expected)
    }

    @Test func disconnectFromTheMainNamespace() {
        #expect(SocketIOPacketEncoder.encode(SocketIOPacket(type: .disconnect)) == [.text("1")])
    }

    @Test func disconnectFromACustomNamespace() {
        #expect(SocketIOPacketEncoder.encode(SocketIOPacket(type: .disconnect, namespace: "/admin")) == [.text("1/admin,")])
    }

    // MARK: Beyond the spec examples

    @Test func connectToACustomNamespaceWithoutData() {
        #expect(SocketIOPacketEncoder.encode(SocketIOPacket(type: .connect, namespace: "/custom")) == [.text("0/custom,")])
    }

    @Test func connectErrorWithAStringMessage() {
        #expect(SocketIOPacketEncoder.encode(SocketIOPacket(type: .connectError, namespace: "/x", data: "nope")) == [.text(#"4/x,"nope""#)])
    }

    @Test func attachmentsAreNumberedDepthFirstInDocumentOrder() {
        let data: JSONValue = [
            "upload",
            ["first": binary([1]), "list": [binary([2]), ["deep": binary([3])]], "plain": "x"],
            binary([4]),
        ]
        let messages = SocketIOPacketEncoder.encode(.event("ignored", [], id: 7).with(data: data))
        let placeholder = { (n: Int) in #"{"_placeholder":true,"num":\#(n)}"# }
        #expect(
            messages == [
                .text(
                    #"54-7["upload",{"first":\#(placeholder(0)),"list":[\#(placeholder(1)),{"deep":\#(placeholder(2))}],"plain":"x"},\#(placeholder(3))]"#
                ),
                attachment([1]), attachment([2]), attachment([3]), attachment([4]),
            ])
    }

    @Test func binaryTypeWithoutBinaryDataDeclaresZeroAttachments() {
        let packet = SocketIOPacket(type: .binaryEvent, data: ["x"])
        #expect(SocketIOPacketEncoder.encode(packet) == [.text(#"50-["x"]"#)])
    }

    @Test func emptyBinaryIsStillAnAttachment() {
        #expect(
            SocketIOPacketEncoder.encode(.event("e", [.binary(ByteBuffer())])) == [
                .text(#"51-["e",{"_placeholder":true,"num":0}]"#), .binary(ByteBuffer()),
            ])
    }

    @Test func numericEventNameAndZeroAckID() {
        let packet = SocketIOPacket(type: .event, data: [1, "a"], id: 0)
        #expect(SocketIOPacketEncoder.encode(packet) == [.text(#"20[1,"a"]"#)])
    }

    @Test func encodedTextUsesJavaScriptNumberAndStringFormatting() {
        let packet = SocketIOPacket.event("n", [1, 2.5, 1e21, 1e-7, "\u{1}\"", .number(.nan)])
        #expect(SocketIOPacketEncoder.encode(packet) == [.text(#"2["n",1,2.5,1e+21,1e-7,"\u0001\"",null]"#)])
    }
}

extension SocketIOPacket {
    fileprivate func with(data: JSONValue) -> SocketIOPacket {
        var copy = self
        copy.data = data
        return copy
    }
}
