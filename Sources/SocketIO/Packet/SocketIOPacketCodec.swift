import EngineIO
import NIOCore

/// Why a Socket.IO packet was rejected; any of these closes the connection.
public enum SocketIODecodingError: Error, Equatable, Sendable {
    case unknownPacketType
    case illegalAttachments
    case invalidPayload
    case unexpectedBinary
    case unexpectedText
    /// The attachments of one packet add up to more than `maxPayload` bytes.
    case attachmentsTooLarge
}

/// Encoding of Socket.IO packets into Engine.IO messages (a text part plus binary attachments).
public enum SocketIOPacketEncoder {
    public static func encode(_ packet: SocketIOPacket) -> [EngineMessage] {
        var attachments: [ByteBuffer] = []
        let data = packet.data.map { extractBinaries($0, into: &attachments) }
        var type = packet.type
        if !attachments.isEmpty {
            if type == .event { type = .binaryEvent }
            if type == .ack { type = .binaryAck }
        }
        var text = String(type.rawValue)
        if type == .binaryEvent || type == .binaryAck {
            text += "\(attachments.count)-"
        }
        if packet.namespace != "/" {
            text += packet.namespace + ","
        }
        if let id = packet.id { text += String(id) }
        data?.write(to: &text)
        return [.text(text)] + attachments.map { .binary($0) }
    }

    private static func extractBinaries(_ value: JSONValue, into attachments: inout [ByteBuffer]) -> JSONValue {
        switch value {
        case .binary(let bytes):
            attachments.append(bytes)
            return ["_placeholder": true, "num": .number(Double(attachments.count - 1))]
        case .array(let items):
            guard value.containsBinary else { return value }
            return .array(items.map { extractBinaries($0, into: &attachments) })
        case .object(let members):
            guard value.containsBinary else { return value }
            return .object(members.map { JSONMember(key: $0.key, value: extractBinaries($0.value, into: &attachments)) })
        default:
            return value
        }
    }
}

/// Decodes the Engine.IO messages of one connection into Socket.IO packets, reassembling
/// binary attachments. One decoder per connection; not thread-safe.
public struct SocketIOPacketDecoder: Sendable {
    /// A hostile header such as `59999999-` could otherwise make us wait for attachments forever.
    public static let maximumAttachments = 1000
    /// `{"_placeholder":true,"num":0}`: the least text one attachment takes in its packet.
    static let placeholderSize = 29

    /// Attachments one packet may declare: what a text message of `maxPayload` bytes can refer
    /// to, and never more than ``maximumAttachments``.
    public let attachmentLimit: Int
    /// Bytes the attachments of one packet may add up to: one `maxPayload`, as if the whole
    /// packet had come in one message. Without it a header declaring 1,000 attachments pins
    /// 1,000 messages of up to `maxPayload` each.
    public let attachmentBytesLimit: Int

    private var pending: (packet: SocketIOPacket, expected: Int, received: [ByteBuffer], bytes: Int)?

    /// A decoder for a connection whose messages are at most `maxPayload` bytes.
    public init(maxPayload: Int = 1_000_000) {
        self.attachmentLimit = min(Self.maximumAttachments, max(1, maxPayload / Self.placeholderSize))
        self.attachmentBytesLimit = maxPayload
    }

    /// Feeds one message; returns a packet when one is complete.
    public mutating func decode(_ message: EngineMessage) throws(SocketIODecodingError) -> SocketIOPacket? {
        switch message {
        case .text(let text):
            guard pending == nil else { throw .unexpectedText }
            let (packet, attachments) = try Self.decodeText(text)
            if attachments == 0 { return packet }
            guard attachments <= attachmentLimit else { throw .illegalAttachments }
            pending = (packet, attachments, [], 0)
            return nil
        case .binary(let bytes):
            guard var current = pending else { throw .unexpectedBinary }
            current.bytes += bytes.readableBytes
            guard current.bytes <= attachmentBytesLimit else {
                pending = nil
                throw .attachmentsTooLarge
            }
            current.received.append(bytes)
            if current.received.count < current.expected {
                pending = current
                return nil
            }
            pending = nil
            var packet = current.packet
            packet.data = try packet.data.map { value throws(SocketIODecodingError) in
                try Self.reconstruct(value, attachments: current.received)
            }
            return packet
        }
    }

    static func decodeText(_ text: String) throws(SocketIODecodingError) -> (SocketIOPacket, Int) {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first >= UInt8(ascii: "0"),
            let type = SocketIOPacketType(rawValue: first - UInt8(ascii: "0"))
        else { throw .unknownPacketType }
        var index = 1
        var attachments = 0
        if type == .binaryEvent || type == .binaryAck {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "-") {
                guard bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else { throw .illegalAttachments }
                index += 1
            }
            guard index < bytes.count, index > start, index - start <= 6,
                let count = Int(String(decoding: bytes[start..<index], as: UTF8.self)),
                count <= maximumAttachments
            else { throw .illegalAttachments }
            attachments = count
            index += 1
        }
        var namespace = "/"
        if index < bytes.count, bytes[index] == UInt8(ascii: "/") {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ",") { index += 1 }
            namespace = String(decoding: bytes[start..<index], as: UTF8.self)
            if index < bytes.count { index += 1 }
        }
        var id: Int?
        let idStart = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
        if index > idStart {
            // Ack ids are JavaScript numbers; anything longer than 15 digits cannot be one.
            guard index - idStart <= 15 else { throw .invalidPayload }
            id = Int(String(decoding: bytes[idStart..<index], as: UTF8.self))
        }
        var data: JSONValue?
        if index < bytes.count {
            do {
                data = try JSONParser.parse(Array(bytes[index...]))
            } catch {
                throw .invalidPayload
            }
        }
        let packet = SocketIOPacket(type: type, namespace: namespace, data: data, id: id)
        guard isValid(packet) else { throw .invalidPayload }
        return (packet, attachments)
    }

    static let reservedEvents: Set<String> = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]

    /// The payload rules of the protocol for each packet type.
    static func isValid(_ packet: SocketIOPacket) -> Bool {
        switch packet.type {
        case .connect:
            return packet.data == nil || packet.data!.isObject
        case .disconnect:
            return packet.data == nil
        case .connectError:
            guard let data = packet.data else { return false }
            return data.isObject || data.stringValue != nil
        case .event, .binaryEvent:
            guard let items = packet.data?.arrayValue, let first = items.first else { return false }
            if case .number = first { return true }
            if let name = first.stringValue { return !reservedEvents.contains(name) }
            return false
        case .ack, .binaryAck:
            return packet.data?.arrayValue != nil && packet.id != nil
        }
    }

    private static func reconstruct(_ value: JSONValue, attachments: [ByteBuffer]) throws(SocketIODecodingError) -> JSONValue {
        switch value {
        case .object(let members):
            if value["_placeholder"] == .bool(true) {
                guard let number = value["num"]?.integerValue, number >= 0, number < attachments.count else {
                    throw .illegalAttachments
                }
                return .binary(attachments[Int(number)])
            }
            var rebuilt: [JSONMember] = []
            rebuilt.reserveCapacity(members.count)
            for member in members {
                rebuilt.append(JSONMember(key: member.key, value: try reconstruct(member.value, attachments: attachments)))
            }
            return .object(rebuilt)
        case .array(let items):
            var rebuilt: [JSONValue] = []
            rebuilt.reserveCapacity(items.count)
            for item in items { rebuilt.append(try reconstruct(item, attachments: attachments)) }
            return .array(rebuilt)
        default:
            return value
        }
    }
}
