import NIOCore
import NIOWebSocket

/// Reads WebSocket frames for one Engine.IO session on its event loop.
final class EngineWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    var session: EngineSession?
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let packet = try? EnginePacketCodec.decodeText(frame.unmaskedData)
            session?.receiveFrame(packet)
        case .binary:
            session?.receiveFrame(EnginePacketCodec.decodeBinary(frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            guard !closing else {
                context.close(promise: nil)
                return
            }
            closing = true
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: WebSocketErrorCode.normalClosure.buffer(context.channel.allocator))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.webSocketBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.webSocketClosed(context.channel)
        session = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Oversize or malformed frames: the aggregator and decoder report here.
        let code: WebSocketErrorCode
        switch error {
        case NIOWebSocketError.multiByteControlFrameLength, NIOWebSocketError.fragmentedControlFrame:
            code = .protocolError
        case is NIOWebSocketFrameAggregator.Error, NIOWebSocketError.invalidFrameLength:
            code = .messageTooLarge
        default:
            code = .protocolError
        }
        if !closing {
            closing = true
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: code.buffer(context.channel.allocator))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
