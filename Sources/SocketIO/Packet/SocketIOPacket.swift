/// The seven Socket.IO v5 packet types.
public enum SocketIOPacketType: UInt8, Sendable {
    case connect = 0
    case disconnect = 1
    case event = 2
    case ack = 3
    case connectError = 4
    case binaryEvent = 5
    case binaryAck = 6
}

/// One Socket.IO packet. Binary values stay inside `data`; the codec extracts them as attachments.
public struct SocketIOPacket: Sendable, Equatable {
    public var type: SocketIOPacketType
    public var namespace: String
    public var data: JSONValue?
    public var id: Int?

    public init(type: SocketIOPacketType, namespace: String = "/", data: JSONValue? = nil, id: Int? = nil) {
        self.type = type
        self.namespace = namespace
        self.data = data
        self.id = id
    }

    public static func event(_ name: String, _ args: [JSONValue], namespace: String = "/", id: Int? = nil) -> SocketIOPacket {
        SocketIOPacket(type: .event, namespace: namespace, data: .array([.string(name)] + args), id: id)
    }

    public static func ack(_ args: [JSONValue], namespace: String, id: Int) -> SocketIOPacket {
        SocketIOPacket(type: .ack, namespace: namespace, data: .array(args), id: id)
    }
}
