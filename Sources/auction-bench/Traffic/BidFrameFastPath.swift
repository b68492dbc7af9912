import NIOCore
import NIOWebSocket

/// Reads broadcast `bid` frames straight from their bytes, ahead of the general Engine.IO /
/// Socket.IO decoding, so the load generator spends less of the shared CPU per delivery than the
/// servers it measures. Only the exact text a server sends for our payload,
/// `42["bid",{"seq":N,"sentAt":N,"emitter":N}]`, takes this path; any other frame (pings,
/// acks, a payload with other spacing or number forms) goes on to `SocketIOClientHandler`.
final class BidFrameFastPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let traffic: BidTrafficHandler
    private let clock: BenchClock

    init(traffic: BidTrafficHandler, clock: BenchClock) {
        self.traffic = traffic
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .text, frame.fin, let bid = Self.parse(frame.unmaskedData) {
            traffic.recordDelivery(bid, at: clock.now())
            return
        }
        context.fireChannelRead(data)
    }

    private static let prefix = Array(#"42["bid",{"seq":"#.utf8)
    private static let sentAtKey = Array(#","sentAt":"#.utf8)
    private static let emitterKey = Array(#","emitter":"#.utf8)
    private static let suffix = Array("}]".utf8)

    /// The payload of an exact bid frame, or nil.
    static func parse(_ buffer: ByteBuffer) -> BidPayload? {
        buffer.withUnsafeReadableBytes { bytes -> BidPayload? in
            var index = 0
            func expect(_ literal: [UInt8]) -> Bool {
                guard bytes.count - index >= literal.count else { return false }
                for byte in literal {
                    guard bytes[index] == byte else { return false }
                    index += 1
                }
                return true
            }
            func integer() -> Int64? {
                let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
                if negative { index += 1 }
                let start = index
                var value: Int64 = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]), index - start < 18 {
                    value = value * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                    index += 1
                }
                return index == start ? nil : (negative ? -value : value)
            }
            guard expect(prefix), let seq = integer(), expect(sentAtKey), let sentAt = integer(),
                expect(emitterKey), let emitter = integer(), expect(suffix), index == bytes.count
            else { return nil }
            return BidPayload(seq: Int(seq), sentAt: sentAt, emitter: Int(emitter))
        }
    }
}
