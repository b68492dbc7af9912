import EngineIO
import NIOCore
import NIOWebSocket
import SocketIO

/// The Engine.IO / Socket.IO client side of one WebSocket: waits for the Engine.IO open packet,
/// sends CONNECT to the main namespace, answers every heartbeat ping, and passes the Socket.IO
/// packets that follow to the next handler. Outbound Socket.IO packets become masked frames.
final class SocketIOClientHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = SocketIOPacket
    typealias OutboundIn = SocketIOPacket
    typealias OutboundOut = WebSocketFrame

    private enum State {
        case awaitingOpen
        case awaitingConnect
        case connected
        case closed
    }

    private var state = State.awaitingOpen
    private var decoder = SocketIOPacketDecoder()
    private let connected: EventLoopPromise<Void>
    private let census: ConnectionCensus
    /// The CONNECT payload, which the server reads as the handshake's `auth`.
    private let auth: JSONValue?

    /// `connected` completes when the server acknowledges CONNECT, or fails with a `ClientHandshakeError`.
    init(connected: EventLoopPromise<Void>, census: ConnectionCensus, auth: JSONValue? = nil) {
        self.connected = connected
        self.census = census
        self.auth = auth
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let packet: EnginePacket
            do {
                packet = try EnginePacketCodec.decodeText(frame.unmaskedData)
            } catch {
                fail(context: context, .protocolViolation("undecodable Engine.IO packet (\(error))"))
                return
            }
            receive(packet, context: context)
        case .binary:
            receive(EnginePacketCodec.decodeBinary(frame.unmaskedData), context: context)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        default:
            break
        }
    }

    private func receive(_ packet: EnginePacket, context: ChannelHandlerContext) {
        switch (packet.type, state) {
        case (.open, .awaitingOpen):
            state = .awaitingConnect
            send(SocketIOPacket(type: .connect, data: auth), context: context)
            context.flush()
        case (.ping, _):
            // Heartbeats must be answered even mid-handshake, or the server drops us after pingTimeout.
            write(EnginePacket(.pong, packet.payload), context: context)
            context.flush()
        case (.message, .awaitingConnect), (.message, .connected):
            guard let payload = packet.payload else { return }
            let decoded: SocketIOPacket?
            do {
                decoded = try decoder.decode(payload)
            } catch {
                fail(context: context, .protocolViolation("undecodable Socket.IO packet (\(error))"))
                return
            }
            guard let decoded else { return }
            socketIOPacketReceived(decoded, context: context)
        case (.close, _):
            context.close(promise: nil)
        case (.noop, _), (.pong, _):
            break
        default:
            fail(context: context, .protocolViolation("Engine.IO packet \(packet.type) while \(state)"))
        }
    }

    private func socketIOPacketReceived(_ packet: SocketIOPacket, context: ChannelHandlerContext) {
        switch (packet.type, state) {
        case (.connect, .awaitingConnect) where packet.namespace == "/":
            state = .connected
            census.connectionEstablished()
            connected.succeed()
        case (.connectError, .awaitingConnect):
            fail(context: context, .connectRefused(packet.data?["message"]?.stringValue ?? packet.data?.jsonText ?? "no reason"))
        case (_, .connected):
            context.fireChannelRead(wrapInboundOut(packet))
        default:
            fail(context: context, .protocolViolation("Socket.IO packet \(packet.type) before CONNECT was acknowledged"))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        send(unwrapOutboundIn(data), context: context, promise: promise)
    }

    private func send(_ packet: SocketIOPacket, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        let messages = SocketIOPacketEncoder.encode(packet)
        for (index, message) in messages.enumerated() {
            write(EnginePacket(.message, message), context: context, promise: index == messages.count - 1 ? promise : nil)
        }
    }

    private func write(_ packet: EnginePacket, context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        let (buffer, isBinary) = EnginePacketCodec.encodeForWebSocket(packet, allocator: context.channel.allocator)
        // RFC 6455 section 5.3: every frame from a client is masked.
        let frame = WebSocketFrame(fin: true, opcode: isBinary ? .binary : .text, maskKey: .random(), data: buffer)
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .connected { census.connectionLost() }
        state = .closed
        connected.fail(ClientHandshakeError.closedBeforeConnected)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        connected.fail(error)
        context.close(promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ error: ClientHandshakeError) {
        connected.fail(error)
        if state == .connected { census.protocolViolation() }
        context.close(promise: nil)
    }
}
