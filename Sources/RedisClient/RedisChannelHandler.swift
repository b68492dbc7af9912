import NIOCore

/// A command on its way to Redis and the promise of its reply.
struct RedisRequest: Sendable {
    var arguments: [[UInt8]]
    var promise: EventLoopPromise<RESPValue>
}

/// One message from a subscription.
public struct RedisPubSubMessage: Sendable {
    /// The pattern that matched, for `PSUBSCRIBE` deliveries.
    public var pattern: String?
    public var channel: String
    public var payload: ByteBuffer
    /// Delivered by sharded pub/sub (`smessage`, after `SSUBSCRIBE`).
    public var isSharded = false

    public init(pattern: String? = nil, channel: String, payload: ByteBuffer, isSharded: Bool = false) {
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
        self.isSharded = isSharded
    }
}

/// Writes commands, parses replies with hiredis, and matches replies to requests in order.
/// On a subscriber connection, `message`/`pmessage` pushes go to `onMessage` instead.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader = RESPReader()
    private var pending = CircularBuffer<EventLoopPromise<RESPValue>>()
    /// Whether each pending request is a `SUNSUBSCRIBE`: a `sunsubscribe` reply that does not
    /// answer one is Redis telling us a channel's slot left this node.
    private var pendingUnsubscribes = CircularBuffer<Bool>()
    private let onMessage: (@Sendable (RedisPubSubMessage) -> Void)?
    private let onShardUnsubscribed: (@Sendable (String) -> Void)?

    init(onMessage: (@Sendable (RedisPubSubMessage) -> Void)?, onShardUnsubscribed: (@Sendable (String) -> Void)? = nil) {
        self.onMessage = onMessage
        self.onShardUnsubscribed = onShardUnsubscribed
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        RESPCommand.format(request.arguments, into: &buffer)
        pending.append(request.promise)
        pendingUnsubscribes.append(request.arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() == "SUNSUBSCRIBE" } ?? false)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.next() {
                route(reply)
            }
        } catch {
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    private func route(_ reply: RESPValue) {
        if let onMessage, case .array(let items?) = reply, let kind = items.first?.string {
            if kind == "message", items.count == 3, let channel = items[1].string, case .bulk(let payload?) = items[2] {
                onMessage(RedisPubSubMessage(pattern: nil, channel: channel, payload: payload))
                return
            }
            if kind == "pmessage", items.count == 4, let pattern = items[1].string, let channel = items[2].string,
                case .bulk(let payload?) = items[3]
            {
                onMessage(RedisPubSubMessage(pattern: pattern, channel: channel, payload: payload))
                return
            }
            if kind == "smessage", items.count == 3, let channel = items[1].string, case .bulk(let payload?) = items[2] {
                onMessage(RedisPubSubMessage(channel: channel, payload: payload, isSharded: true))
                return
            }
            if kind == "sunsubscribe", pendingUnsubscribes.first != true, items.count >= 2, let channel = items[1].string {
                onShardUnsubscribed?(channel)
                return
            }
        }
        _ = pendingUnsubscribes.popFirst()
        guard let promise = pending.popFirst() else { return }
        if case .error(let message) = reply {
            promise.fail(RedisError.server(message))
        } else {
            promise.succeed(reply)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failPending(RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failPending(error)
        context.close(promise: nil)
    }

    private func failPending(_ error: any Error) {
        pendingUnsubscribes.removeAll()
        while let promise = pending.popFirst() { promise.fail(error) }
    }
}
