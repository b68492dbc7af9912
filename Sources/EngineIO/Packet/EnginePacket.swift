import NIOConcurrencyHelpers
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
    /// Its permessage-deflate frame, made once by the first session that needs it.
    var compressedFrame: CompressedFrame?

    /// A broadcast's packet (``PreparedMessages``), not one session's own.
    var isPrepared: Bool { webSocketFrame != nil }

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

    /// `compressible`: some sessions may have agreed to permessage-deflate (the server has
    /// ``EngineConfiguration/perMessageDeflate``), so each frame can also be compressed once for all.
    public init(_ messages: [EngineMessage], compressible: Bool = false) {
        let allocator = ByteBufferAllocator()
        packets = messages.map { message in
            var packet = EnginePacket(.message, message)
            packet.webSocketFrame = EnginePacketCodec.encodeWebSocketFrame(packet, allocator: allocator)
            if compressible { packet.compressedFrame = CompressedFrame() }
            return packet
        }
    }
}

/// The compressed frame of a packet many sessions send, made at most once.
final class CompressedFrame: Sendable {
    private let frame = NIOLockedValueBox<ByteBuffer??>(nil)

    func get(_ make: () -> ByteBuffer?) -> ByteBuffer? {
        frame.withLockedValue { frame in
            if let made = frame { return made }
            let made = make()
            frame = .some(made)
            return made
        }
    }
}
