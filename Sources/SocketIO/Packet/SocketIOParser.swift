import EngineIO
import NIOCore

/// How Socket.IO packets become Engine.IO messages and back (Node's `parser` option). Every
/// client of a server speaks the server's parser.
public protocol SocketIOParser: Sendable {
    /// The messages of one packet, in order.
    func encode(_ packet: SocketIOPacket) -> [EngineMessage]
    /// A decoder for one connection (it may keep state between messages, as attachments need).
    func makeDecoder(maxPayload: Int) -> any SocketIOPacketDecoding
}

/// Turns one connection's Engine.IO messages into Socket.IO packets.
public protocol SocketIOPacketDecoding: Sendable {
    /// Feeds one message; returns a packet when one is complete. A throw closes the connection.
    mutating func decode(_ message: EngineMessage) throws(SocketIODecodingError) -> SocketIOPacket?
}

extension SocketIOPacketDecoder: SocketIOPacketDecoding {}

/// The protocol's own format (`socket.io-parser`): a text message per packet, binary data as
/// attachments in the messages after it.
public struct DefaultParser: SocketIOParser {
    public init() {}

    public func encode(_ packet: SocketIOPacket) -> [EngineMessage] {
        SocketIOPacketEncoder.encode(packet)
    }

    public func makeDecoder(maxPayload: Int) -> any SocketIOPacketDecoding {
        SocketIOPacketDecoder(maxPayload: maxPayload)
    }
}

/// `socket.io-msgpack-parser`: each packet one binary message, the MessagePack map `{type,
/// data, id, nsp}` (binary data inline as `bin`, so never the BINARY_ types).
public struct MessagePackParser: SocketIOParser {
    public init() {}

    public func encode(_ packet: SocketIOPacket) -> [EngineMessage] {
        let type: SocketIOPacketType = switch packet.type {
        case .binaryEvent: .event
        case .binaryAck: .ack
        default: packet.type
        }
        // Node's key order: the packet is made with type and data, id and nsp are added after.
        var members = [JSONMember(key: "type", value: .number(Double(type.rawValue)))]
        if let data = packet.data { members.append(JSONMember(key: "data", value: data)) }
        if let id = packet.id { members.append(JSONMember(key: "id", value: .number(Double(id)))) }
        members.append(JSONMember(key: "nsp", value: .string(packet.namespace)))
        var buffer = ByteBuffer()
        MessagePack.encode(.object(members), into: &buffer)
        return [.binary(buffer)]
    }

    public func makeDecoder(maxPayload: Int) -> any SocketIOPacketDecoding {
        MessagePackPacketDecoder()
    }
}

/// Decodes `socket.io-msgpack-parser` packets, with its validity rules and the protocol's.
public struct MessagePackPacketDecoder: SocketIOPacketDecoding {
    public init() {}

    public mutating func decode(_ message: EngineMessage) throws(SocketIODecodingError) -> SocketIOPacket? {
        guard case .binary(let bytes) = message else { throw .unexpectedText }
        let value: JSONValue
        do {
            value = try MessagePack.decode(bytes)
        } catch {
            throw .invalidPayload
        }
        guard value.isObject, let code = value["type"]?.integerValue, (0...4).contains(code),
            let type = SocketIOPacketType(rawValue: UInt8(code))
        else { throw .unknownPacketType }
        guard let namespace = value["nsp"]?.stringValue, namespace.hasPrefix("/") else { throw .invalidPayload }
        var id: Int?
        if let rawID = value["id"], rawID != .null {
            // An ack id is a non-negative JavaScript integer.
            guard let number = rawID.integerValue, number >= 0, number <= 9_007_199_254_740_991 else { throw .invalidPayload }
            id = Int(number)
        }
        var data = value["data"]
        // python-socketio sends `data: nil` with packets that have none.
        if data == .null, type == .connect || type == .disconnect { data = nil }
        let packet = SocketIOPacket(type: type, namespace: namespace, data: data, id: id)
        guard SocketIOPacketDecoder.isValid(packet) else { throw .invalidPayload }
        return packet
    }
}

extension SocketIOParser where Self == DefaultParser {
    /// The protocol's own format.
    public static var `default`: DefaultParser { DefaultParser() }
}

extension SocketIOParser where Self == MessagePackParser {
    /// `socket.io-msgpack-parser`'s format.
    public static var messagePack: MessagePackParser { MessagePackParser() }
}

/// The parsers by the names command lines give them.
public enum SocketIOParserName: String, Sendable, CaseIterable {
    case `default`
    case msgpack

    public var parser: any SocketIOParser {
        switch self {
        case .default: DefaultParser()
        case .msgpack: MessagePackParser()
        }
    }
}
