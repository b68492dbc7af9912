import NIOCore

/// The seven Engine.IO v4 packet types.
public enum EnginePacketType: UInt8, Sendable {
    case open = 0
    case close = 1
    case ping = 2
    case pong = 3
    case message = 4
    case upgrade = 5
    case noop = 6

    var character: UInt8 { UInt8(ascii: "0") + rawValue }
}

/// What an Engine.IO `message` packet carries: UTF-8 text or raw bytes.
public enum EngineMessage: Sendable, Equatable {
    case text(String)
    case binary(ByteBuffer)
}

/// One Engine.IO packet. Binary payloads only occur on `message` packets.
public struct EnginePacket: Sendable, Equatable {
    public var type: EnginePacketType
    public var payload: EngineMessage?
    /// The whole WebSocket frame, encoded once when the same packet goes to many sessions
    /// (a broadcast); every session then writes the same buffer.
    var webSocketFrame: ByteBuffer?

    public init(_ type: EnginePacketType, _ payload: EngineMessage? = nil) {
        self.type = type
        self.payload = payload
    }

    public static func == (lhs: EnginePacket, rhs: EnginePacket) -> Bool {
        lhs.type == rhs.type && lhs.payload == rhs.payload
    }

    public static func message(_ text: String) -> EnginePacket { EnginePacket(.message, .text(text)) }
    public static func message(_ bytes: ByteBuffer) -> EnginePacket { EnginePacket(.message, .binary(bytes)) }
    public static let ping = EnginePacket(.ping)
    public static let pong = EnginePacket(.pong)
    public static let noop = EnginePacket(.noop)
    public static let close = EnginePacket(.close)
}

/// Messages encoded once for many sessions: what a broadcast hands to each of them.
public struct PreparedMessages: Sendable {
    let packets: [EnginePacket]

    public init(_ messages: [EngineMessage]) {
        let allocator = ByteBufferAllocator()
        packets = messages.map { message in
            var packet = EnginePacket(.message, message)
            packet.webSocketFrame = EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator)
            return packet
        }
    }
}
