import NIOCore
import NIOWebSocket

/// Reads WebSocket frames for one Engine.IO session on its event loop.
final class EngineWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    var session: EngineSession?
    private var closing = false
    /// Set when the connection agreed to permessage-deflate: compressed messages are inflated
    /// up to `maxPayload`.
    var deflate: WebSocketDeflate?
    var maxPayload = 1_000_000

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        // Once a Close is sent, the connection ends when it has left; frames read meanwhile are
        // discarded (RFC 6455 §1.4), except the client's Close answering ours.
        if closing, frame.opcode != .connectionClose { return }
        var payload = frame.unmaskedData
        if frame.rsv1 {
            // Only a data message of a connection that agreed to permessage-deflate may be compressed.
            guard deflate != nil, frame.opcode == .text || frame.opcode == .binary else { return sendClose(.protocolError, context: context) }
            do {
                payload = try MessageDeflate.inflate(payload, limit: maxPayload)
            } catch .tooLarge {
                return sendClose(.messageTooLarge, context: context)
            } catch {
                return sendClose(.dataInconsistentWithMessage, context: context)
            }
        }
        switch frame.opcode {
        case .text:
            let packet = try? EnginePacketCodec.decodeText(payload)
            session?.receiveFrame(packet)
        case .binary:
            session?.receiveFrame(EnginePacketCodec.decodeBinary(payload))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            guard !closing else {
                context.close(promise: nil)
                return
            }
            sendClose(.normalClosure, context: context)
        default:
            break
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.webSocketBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    /// Hummingbird allows half-closed connections, so a client's FIN arrives as an event rather
    /// than a close: a WebSocket without its input is over (RFC 6455 has no half-open state).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
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
        if !closing { sendClose(code, context: context) }
    }

    /// Answers the client's Close or starts the closing handshake; the connection ends once the
    /// Close has left. The session lets go of the WebSocket first, so that nothing it still has
    /// queued (its own close packet, say) is written after this Close.
    private func sendClose(_ code: WebSocketErrorCode, context: ChannelHandlerContext) {
        closing = true
        session?.webSocketClosed(context.channel)
        session = nil
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: code.buffer(context.channel.allocator))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
    }
}
