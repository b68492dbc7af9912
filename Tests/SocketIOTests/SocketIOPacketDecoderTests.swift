import EngineIO
import NIOCore
import Testing

@testable import SocketIO

@Suite("Socket.IO packet decoder")
struct SocketIOPacketDecoderTests {
    private func binary(_ bytes: [UInt8]) -> JSONValue { .binary(ByteBuffer(bytes: bytes)) }
    private func attachment(_ bytes: [UInt8]) -> EngineMessage { .binary(ByteBuffer(bytes: bytes)) }

    /// Decodes one text message that must complete a packet on its own.
    private func decode(_ text: String) throws -> SocketIOPacket? {
        var decoder = SocketIOPacketDecoder()
        return try decoder.decode(.text(text))
    }

    /// The error that decoding `messages` in order on a fresh decoder ends with, if any.
    private func error(_ messages: [EngineMessage]) -> SocketIODecodingError? {
        var decoder = SocketIOPacketDecoder()
        do {
            for message in messages { _ = try decoder.decode(message) }
            return nil
        } catch {
            return error
        }
    }

    private func error(_ text: String) -> SocketIODecodingError? { error([.text(text)]) }

    // MARK: Spec examples

    @Test func connectToTheMainNamespace() throws {
        #expect(try decode("0") == SocketIOPacket(type: .connect))
    }

    @Test func connectToACustomNamespace() throws {
        #expect(
            try decode(#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#)
                == SocketIOPacket(type: .connect, namespace: "/admin", data: ["sid": "oSO0OpakMV_3jnilAAAA"]))
    }

    @Test func connectionRefused() throws {
        #expect(try decode(#"4{"message":"Not authorized"}"#) == SocketIOPacket(type: .connectError, data: ["message": "Not authorized"]))
    }

    @Test func eventInTheMainNamespace() throws {
        #expect(try decode(#"2["foo"]"#) == .event("foo", []))
    }

    @Test func eventInACustomNamespace() throws {
        #expect(try decode(#"2/admin,["bar"]"#) == .event("bar", [], namespace: "/admin"))
    }

    @Test func eventWithBinaryData() throws {
        var decoder = SocketIOPacketDecoder()
        #expect(try decoder.decode(.text(#"51-["baz",{"_placeholder":true,"num":0}]"#)) == nil)
        let packet = try decoder.decode(attachment([1, 2, 3, 4]))
        #expect(packet == SocketIOPacket(type: .binaryEvent, data: ["baz", binary([1, 2, 3, 4])]))
    }

    @Test func eventWithMultipleAttachments() throws {
        var decoder = SocketIOPacketDecoder()
        let text = #"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        #expect(try decoder.decode(.text(text)) == nil)
        #expect(try decoder.decode(attachment([1, 2])) == nil)
        let packet = try decoder.decode(attachment([3, 4]))
        #expect(packet == SocketIOPacket(type: .binaryEvent, namespace: "/admin", data: ["baz", binary([1, 2]), binary([3, 4])]))
    }

    @Test func eventWithAckID() throws {
        #expect(try decode(#"212["foo"]"#) == .event("foo", [], id: 12))
    }

    @Test func ackInACustomNamespace() throws {
        #expect(try decode(#"3/admin,13["bar"]"#) == .ack(["bar"], namespace: "/admin", id: 13))
    }

    @Test func ackWithBinaryData() throws {
        var decoder = SocketIOPacketDecoder()
        #expect(try decoder.decode(.text(#"61-15["bar",{"_placeholder":true,"num":0}]"#)) == nil)
        let packet = try decoder.decode(attachment([1, 2, 3, 4]))
        #expect(packet == SocketIOPacket(type: .binaryAck, data: ["bar", binary([1, 2, 3, 4])], id: 15))
    }

    @Test func disconnectFromTheMainNamespace() throws {
        #expect(try decode("1") == SocketIOPacket(type: .disconnect))
    }

    @Test func disconnectFromACustomNamespace() throws {
        #expect(try decode("1/admin,") == SocketIOPacket(type: .disconnect, namespace: "/admin"))
    }

    @Test func namespaceWithoutTrailingComma() throws {
        // "40/custom" on the wire: Engine.IO message "4", Socket.IO CONNECT to /custom.
        let engine = try EnginePacketCodec.decodeText(ByteBuffer(string: "40/custom"))
        guard case .text(let text)? = engine.payload else {
            Issue.record("expected a text message, got \(engine)")
            return
        }
        #expect(try decode(text) == SocketIOPacket(type: .connect, namespace: "/custom"))
        #expect(try decode("1/custom") == SocketIOPacket(type: .disconnect, namespace: "/custom"))
    }

    @Test func connectWithAuthPayload() throws {
        #expect(try decode(#"0/custom,{"token":"abc"}"#) == SocketIOPacket(type: .connect, namespace: "/custom", data: ["token": "abc"]))
        #expect(try decode(#"0{"token":"abc"}"#) == SocketIOPacket(type: .connect, data: ["token": "abc"]))
    }

    // MARK: More accepted forms

    @Test func explicitMainNamespaceIsTheMainNamespace() throws {
        #expect(try decode(#"2/,["foo"]"#) == .event("foo", []))
    }

    @Test func numericEventNames() throws {
        #expect(try decode("2[1]") == SocketIOPacket(type: .event, data: [1]))
    }

    @Test func ackIDsWithLeadingZerosAndZero() throws {
        #expect(try decode(#"2007["x"]"#) == .event("x", [], id: 7))
        #expect(try decode("30[]") == .ack([], namespace: "/", id: 0))
    }

    @Test func fifteenDigitAckIDIsAccepted() throws {
        #expect(try decode(#"2999999999999999["x"]"#) == .event("x", [], id: 999_999_999_999_999))
    }

    @Test func connectErrorWithAString() throws {
        #expect(try decode(#"4"nope""#) == SocketIOPacket(type: .connectError, data: "nope"))
    }

    @Test func disconnectWithAckIDIsKept() throws {
        #expect(try decode("1/a,5") == SocketIOPacket(type: .disconnect, namespace: "/a", id: 5))
    }

    @Test func placeholdersInPlainEventsStayObjects() throws {
        #expect(try decode(#"2["a",{"_placeholder":true,"num":0}]"#) == .event("a", [["_placeholder": true, "num": 0]]))
    }

    @Test func placeholderLookalikesAreNotReplaced() throws {
        var decoder = SocketIOPacketDecoder()
        _ = try decoder.decode(.text(#"51-["a",{"_placeholder":false,"num":0},{"_placeholder":true,"num":0}]"#))
        let packet = try decoder.decode(attachment([9]))
        #expect(packet == SocketIOPacket(type: .binaryEvent, data: ["a", ["_placeholder": false, "num": 0], binary([9])]))
    }

    @Test func nestedPlaceholdersAndReusedAttachments() throws {
        var decoder = SocketIOPacketDecoder()
        let text = #"52-["a",{"x":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        _ = try decoder.decode(.text(text))
        _ = try decoder.decode(attachment([0xA]))
        let packet = try decoder.decode(attachment([0xB]))
        #expect(packet == SocketIOPacket(type: .binaryEvent, data: ["a", ["x": [binary([0xB])]], binary([0xA]), binary([0xB])]))
    }

    @Test func zeroAttachmentsCompleteImmediately() throws {
        #expect(try decode(#"50-["x"]"#) == SocketIOPacket(type: .binaryEvent, data: ["x"]))
    }

    @Test func thousandAttachmentsAreAllowed() throws {
        var decoder = SocketIOPacketDecoder()
        #expect(try decoder.decode(.text(#"51000-["x"]"#)) == nil)
        for index in 0..<999 {
            #expect(try decoder.decode(attachment([UInt8(index & 0xFF)])) == nil)
        }
        #expect(try decoder.decode(attachment([0])) == SocketIOPacket(type: .binaryEvent, data: ["x"]))
    }

    @Test func decoderIsReusableAfterABinaryPacket() throws {
        var decoder = SocketIOPacketDecoder()
        _ = try decoder.decode(.text(#"51-["a",{"_placeholder":true,"num":0}]"#))
        _ = try decoder.decode(attachment([1]))
        #expect(try decoder.decode(.text(#"2["b"]"#)) == .event("b", []))
    }

    @Test func leadingWhitespaceBeforeTheJSONIsAccepted() throws {
        #expect(try decode(#"2 ["foo"]"#) == .event("foo", []))
    }

    // MARK: Unknown packet type

    @Test(arguments: ["", "abc", "9", "7[]", "/admin,[\"x\"]", "-1", " 2[\"x\"]", "\u{0}"])
    func unknownPacketType(text: String) {
        #expect(error(text) == .unknownPacketType)
    }

    @Test func decodeTextReportsTheAttachmentCount() throws {
        let (packet, attachments) = try SocketIOPacketDecoder.decodeText(
            #"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        #expect(attachments == 2)
        // Placeholders stay until the attachments arrive.
        #expect(
            packet
                == SocketIOPacket(
                    type: .binaryEvent, namespace: "/admin",
                    data: ["baz", ["_placeholder": true, "num": 0], ["_placeholder": true, "num": 1]]))
        #expect(try SocketIOPacketDecoder.decodeText(#"2["foo"]"#) == (.event("foo", []), 0))
    }

    @Test func decodeTextRejectsUnknownTypes() {
        #expect(throws: SocketIODecodingError.unknownPacketType) { try SocketIOPacketDecoder.decodeText("abc") }
        #expect(throws: SocketIODecodingError.unknownPacketType) { try SocketIOPacketDecoder.decodeText("9") }
    }

    // MARK: Invalid payload

    @Test(arguments: [
        "2{}", "2", "2[]", "2[true]", "2[null]", "2[[\"x\"]]", "2\"x\"", "2/admin,", "2[\"x\",]", "2[\"x\"",
        "3", "3[\"x\"]", "3/admin,[\"x\"]", "31{}", "31\"x\"", "31",
        "0[]", "0\"x\"", "0abc", "0/admin,[]",
        "1{}", "1[]", "1\"x\"",
        "4", "4[]", "41", "4/admin,",
        "2/admin[\"x\"]",  // no comma: the whole rest is the namespace
    ])
    func invalidPayload(text: String) {
        #expect(error(text) == .invalidPayload)
    }

    @Test(arguments: ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"])
    func reservedEventNames(name: String) {
        #expect(error(#"2["\#(name)"]"#) == .invalidPayload)
        #expect(error(#"2/admin,5["\#(name)",1]"#) == .invalidPayload)
        #expect(error([.text(#"51-["\#(name)",{"_placeholder":true,"num":0}]"#)]) == .invalidPayload)
    }

    @Test(arguments: [#"2abc["x"]"#, #"21a["x"]"#, #"2-1["x"]"#, #"21.5["x"]"#, #"2 1["x"]"#])
    func invalidAckID(text: String) {
        #expect(error(text) == .invalidPayload)
    }

    @Test func ackIDsLongerThanFifteenDigitsAreRejected() {
        #expect(error(#"21234567890123456["x"]"#) == .invalidPayload)
        #expect(error(#"399999999999999999999999[]"#) == .invalidPayload)
    }

    // MARK: Illegal attachments

    @Test(arguments: [
        #"5x-["x"]"#, #"5-["x"]"#, "5", "51", #"51["x"]"#, #"6-15["x"]"#, #"61x-15["x"]"#, #"51001-["x"]"#,
        #"59999999-["x"]"#, #"50000001-["x"]"#, #"5+1-["x"]"#, #"5 1-["x"]"#,
    ])
    func illegalAttachmentHeader(text: String) {
        #expect(error(text) == .illegalAttachments)
    }

    @Test func thousandAndOneAttachmentsAreRejected() {
        let count = SocketIOPacketDecoder.maximumAttachments + 1
        #expect(error(#"5\#(count)-["x"]"#) == .illegalAttachments)
        #expect(error(#"6\#(count)-1["x"]"#) == .illegalAttachments)
    }

    @Test(arguments: [
        #"{"_placeholder":true,"num":1}"#, #"{"_placeholder":true,"num":-1}"#, #"{"_placeholder":true,"num":"0"}"#,
        #"{"_placeholder":true,"num":0.5}"#, #"{"_placeholder":true}"#, #"{"_placeholder":true,"num":null}"#,
        #"{"_placeholder":true,"num":1e300}"#,
    ])
    func placeholderNumberOutOfRange(placeholder: String) {
        #expect(error([.text(#"51-["a",\#(placeholder)]"#), attachment([1])]) == .illegalAttachments)
    }

    @Test func placeholderOutOfRangeInsideAnObject() {
        #expect(error([.text(#"61-3[{"k":{"_placeholder":true,"num":4}}]"#), attachment([1])]) == .illegalAttachments)
    }

    @Test func decoderStartsOverAfterABadPlaceholder() throws {
        var decoder = SocketIOPacketDecoder()
        _ = try decoder.decode(.text(#"51-["a",{"_placeholder":true,"num":3}]"#))
        #expect(throws: SocketIODecodingError.illegalAttachments) { try decoder.decode(attachment([1])) }
        #expect(try decoder.decode(.text(#"2["b"]"#)) == .event("b", []))
    }

    // MARK: Message order

    @Test func binaryMessageWhenNotAwaitingAttachments() {
        #expect(error([attachment([1])]) == .unexpectedBinary)
        #expect(error([.text(#"2["a"]"#), attachment([1])]) == .unexpectedBinary)
        #expect(error([.text(#"51-["a",{"_placeholder":true,"num":0}]"#), attachment([1]), attachment([2])]) == .unexpectedBinary)
    }

    @Test func textMessageWhileAwaitingAttachments() {
        #expect(error([.text(#"51-["a",{"_placeholder":true,"num":0}]"#), .text(#"2["b"]"#)]) == .unexpectedText)
        #expect(
            error([.text(#"52-["a",{"_placeholder":true,"num":0}]"#), attachment([1]), .text(#"2["b"]"#)]) == .unexpectedText)
    }

    // MARK: Round trips

    @Test func encodedPacketsDecodeToThemselves() throws {
        let packets: [SocketIOPacket] = [
            SocketIOPacket(type: .connect),
            SocketIOPacket(type: .connect, namespace: "/admin", data: ["sid": "x"]),
            SocketIOPacket(type: .disconnect, namespace: "/admin"),
            SocketIOPacket(type: .connectError, data: ["message": "no", "data": [1, nil]]),
            SocketIOPacket(type: .binaryEvent, namespace: "/n", data: ["e", binary([1]), ["k": binary([])]], id: 99),
            SocketIOPacket(type: .binaryAck, data: [binary([0xFF, 0])], id: 0),
            .event("é😀", ["\u{0}\n\"", 1.5, -0.25, 1e21, nil, true, ["nested": [[]]]], namespace: "/ñ", id: 123_456_789),
            .ack([], namespace: "/", id: 1),
        ]
        for packet in packets {
            var decoder = SocketIOPacketDecoder()
            let messages = SocketIOPacketEncoder.encode(packet)
            for message in messages.dropLast() {
                #expect(try decoder.decode(message) == nil)
            }
            #expect(try decoder.decode(messages.last!) == packet)
        }
    }
}
