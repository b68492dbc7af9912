import EngineIO
import FuzzSupport
import FuzzSupportJSON
import NIOCore
import SocketIO

// The Engine.IO messages of one connection as Socket.IO decodes them, binary attachments
// included. The input is the messages joined by 0x1E, like a polling body but with binary
// messages as `b` + the raw bytes (no base64, so the fuzzer reaches the attachments directly).
// Decoding stops at the first error, as the connection would be closed.
//
// Checked besides "no crash": a packet with attachments completes exactly on its declared last
// attachment; every packet is one the protocol allows; and a decoded packet, encoded and decoded
// on a fresh decoder, is the same packet (non-finite numbers come back as null, as from
// `JSON.stringify`), and encodes to one text message plus one per binary value it holds.

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer, _ argv: UnsafeMutableRawPointer) -> CInt { Seeds.writeIfAsked(seeds) }

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = fuzzInput(data, count)
    var decoder = SocketIOPacketDecoder()
    var expectedAttachments = 0
    var receivedAttachments = 0
    for part in bytes.split(separator: 0x1E, omittingEmptySubsequences: false) {
        let message: EngineMessage =
            part.first == UInt8(ascii: "b")
            ? .binary(ByteBuffer(bytes: part.dropFirst()))
            : .text(String(decoding: part, as: UTF8.self))
        let packet: SocketIOPacket?
        do {
            packet = try decoder.decode(message)
        } catch {
            return 0
        }
        switch message {
        case .text(let text):
            receivedAttachments = 0
            expectedAttachments = declaredAttachments(text)
            require(
                (packet == nil) == (expectedAttachments > 0),
                "\(text) declares \(expectedAttachments) attachments, decoded to \(String(describing: packet))")
        case .binary:
            receivedAttachments += 1
            require(
                (packet == nil) == (receivedAttachments < expectedAttachments),
                "attachment \(receivedAttachments) of \(expectedAttachments) gave \(String(describing: packet))")
        }
        if let packet { check(packet) }
    }
    return 0
}

func check(_ packet: SocketIOPacket) {
    require(isAllowed(packet), "decoded a packet the protocol does not allow: \(packet)")
    let messages = SocketIOPacketEncoder.encode(packet)
    require(messages.count == 1 + binaryCount(packet.data), "\(packet) encoded to \(messages.count) messages")
    var fresh = SocketIOPacketDecoder()
    var again: SocketIOPacket?
    for (index, message) in messages.enumerated() {
        do {
            again = try fresh.decode(message)
        } catch {
            // An event named by a non-finite number is named null once written: no longer an event.
            require(packet.data.map { $0.stringified != $0 } == true, "\(packet) encoded to \(messages), refused with \(error)")
            return
        }
        require((again == nil) == (index < messages.count - 1), "\(messages) completed at message \(index)")
    }
    var expected = packet
    expected.data = packet.data?.stringified
    require(again == expected, "\(packet) encoded to \(messages), decoded to \(String(describing: again))")
}

/// The count a BINARY_EVENT or BINARY_ACK header declares (`51-…`), 0 for other packets.
func declaredAttachments(_ text: String) -> Int {
    guard let first = text.utf8.first, first == UInt8(ascii: "5") || first == UInt8(ascii: "6") else { return 0 }
    return Int(String(text.utf8.dropFirst().prefix { $0 != UInt8(ascii: "-") })!)!
}

/// What the protocol allows each packet type to carry.
func isAllowed(_ packet: SocketIOPacket) -> Bool {
    switch packet.type {
    case .connect: return packet.data == nil || packet.data!.isObject
    case .disconnect: return packet.data == nil
    case .connectError: return packet.data.map { $0.isObject || $0.stringValue != nil } ?? false
    case .event, .binaryEvent:
        guard let first = packet.data?.arrayValue?.first else { return false }
        return first.stringValue.map { !reserved.contains($0) } ?? (first.numberValue != nil)
    case .ack, .binaryAck: return packet.data?.arrayValue != nil && packet.id != nil
    }
}

let reserved: Set<String> = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]

func binaryCount(_ value: JSONValue?) -> Int {
    switch value {
    case .binary?: 1
    case .array(let items)?: items.reduce(0) { $0 + binaryCount($1) }
    case .object(let members)?: members.reduce(0) { $0 + binaryCount($1.value) }
    default: 0
    }
}

/// The packets of SocketIOPacketDecoderTests and SocketIOFuzzTests, with their attachments.
let seeds: [[UInt8]] = [
    "0", #"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#, #"4{"message":"Not authorized"}"#, #"2["foo"]"#, #"2/admin,["bar"]"#,
    "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]\u{1E}b\u{1}\u{2}\u{3}\u{4}",
    "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\u{1E}b\u{1}\u{2}\u{1E}b\u{3}\u{4}",
    #"212["foo"]"#, #"3/admin,13["bar"]"#, "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]\u{1E}b\u{1}\u{2}\u{3}\u{4}",
    "1", "1/admin,", "0/custom", #"0/custom,{"token":"abc"}"#, #"2/,["foo"]"#, "2[1]", #"2007["x"]"#, "30[]",
    #"2999999999999999["x"]"#, #"4"nope""#, "1/a,5", #"2["a",{"_placeholder":true,"num":0}]"#,
    "51-[\"a\",{\"_placeholder\":false,\"num\":0},{\"_placeholder\":true,\"num\":0}]\u{1E}b\u{9}",
    "52-[\"a\",{\"x\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\u{1E}b\u{A}\u{1E}b\u{B}",
    #"50-["x"]"#, "51000-[\"x\"]\u{1E}b\u{0}", "51-[\"a\",{\"_placeholder\":true,\"num\":0}]\u{1E}2[\"b\"]",
    #"2 ["foo"]"#, #"2["connect"]"#, #"21234567890123456["x"]"#, #"59999999-["x"]"#, "2[\"a\"]\u{1E}b\u{1}",
    "51-[\"a\",{\"_placeholder\":true,\"num\":1}]\u{1E}b\u{1}", "61-3[{\"k\":{\"_placeholder\":true,\"num\":4}}]\u{1E}b\u{1}",
    #"2["bid",{"itemId":"7","amount":1e999}]"#, #"2[-0.0,1e21,"\ud83d\ude00"]"#,
].map { Array($0.utf8) }
