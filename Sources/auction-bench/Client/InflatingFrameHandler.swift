import EngineIO
import NIOCore
import NIOWebSocket

/// On a connection that offered permessage-deflate: a whole message the server sent compressed
/// (RSV1 on a final text or binary frame) goes on inflated, as an ordinary frame. A compressed
/// message split into fragments, or one that does not inflate, closes the connection: the
/// servers we measure send neither.
final class InflatingFrameHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.rsv1 else { return context.fireChannelRead(data) }
        guard frame.fin, frame.opcode == .text || frame.opcode == .binary,
            let message = PerMessageDeflateClient.inflate(frame.unmaskedData, limit: limit)
        else {
            context.fireErrorCaught(ClientHandshakeError.protocolViolation("a compressed frame we cannot inflate (opcode \(frame.opcode), fin \(frame.fin))"))
            return
        }
        context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: frame.opcode, data: message)))
    }
}

/// Counts the bytes a connection receives off the wire (TCP payload: HTTP, WebSocket framing and
/// all), into a counter shared by the connections of one event loop.
final class WireByteCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let counter: WireBytes

    init(counter: WireBytes) {
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        counter.add(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }
}
