import NIOConcurrencyHelpers
import NIOCore

/// The acknowledgements a broadcast with acks collected.
public struct BroadcastAcks: Sendable, Equatable {
    /// One response per socket that answered (its first ack argument).
    public var responses: [JSONValue]
    /// False when the timeout passed before every reached socket answered.
    public var complete: Bool
}

/// Selects sockets (`to`/`in`, `except`) and flags (`local`, `volatile`, `timeout`) for a broadcast.
public struct BroadcastOperator: Sendable {
    let namespace: Namespace
    var options = BroadcastOptions()

    init(namespace: Namespace, options: BroadcastOptions = BroadcastOptions()) {
        self.namespace = namespace
        self.options = options
    }

    public func to(_ rooms: String...) -> BroadcastOperator { to(rooms) }
    public func `in`(_ rooms: String...) -> BroadcastOperator { to(rooms) }
    public func except(_ rooms: String...) -> BroadcastOperator { except(rooms) }

    public func to<Rooms: Sequence<String>>(_ rooms: Rooms) -> BroadcastOperator {
        var copy = self
        copy.options.rooms.formUnion(rooms)
        return copy
    }

    public func except<Rooms: Sequence<String>>(_ rooms: Rooms) -> BroadcastOperator {
        var copy = self
        copy.options.except.formUnion(rooms)
        return copy
    }

    public var local: BroadcastOperator {
        var copy = self
        copy.options.flags.local = true
        return copy
    }

    public var volatile: BroadcastOperator {
        var copy = self
        copy.options.flags.volatile = true
        return copy
    }

    public func timeout(_ duration: Duration) -> BroadcastOperator {
        var copy = self
        copy.options.flags.timeout = duration
        return copy
    }

    public func emit(_ event: String, _ args: JSONValue...) {
        emit(event, args: args)
    }

    public func emit(_ event: String, args: [JSONValue]) {
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name)
        namespace.adapter.broadcast(packet, options: options)
    }

    /// Emits and waits for every reached socket to acknowledge, or for the timeout
    /// (set with ``timeout(_:)``, 10 s when unset).
    public func emitWithAck(_ event: String, _ args: JSONValue...) async -> BroadcastAcks {
        await emitWithAck(event, args: args)
    }

    public func emitWithAck(_ event: String, args: [JSONValue]) async -> BroadcastAcks {
        let id = AckID.next()
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name, id: id)
        let collector = AckCollector()
        let timeout = options.flags.timeout ?? .seconds(10)
        return await withCheckedContinuation { continuation in
            collector.start(continuation)
            namespace.adapter.broadcastWithAck(
                packet,
                options: options,
                clientCount: { collector.expect($0) },
                ack: { collector.receive($0) }
            )
            collector.armed()
            Task {
                try? await Task.sleep(for: timeout)
                collector.finish(complete: false)
            }
        }
    }

    public func fetchSockets() async -> [SocketDescriptor] {
        await namespace.adapter.fetchSockets(options)
    }

    public func socketsJoin(_ rooms: Set<String>) async {
        await namespace.adapter.addSockets(options, rooms: rooms)
    }

    public func socketsLeave(_ rooms: Set<String>) async {
        await namespace.adapter.deleteSockets(options, rooms: rooms)
    }

    public func disconnectSockets(close: Bool = false) async {
        await namespace.adapter.disconnectSockets(options, close: close)
    }
}

/// Gathers the acks of one broadcast; finishes when all expected arrived or on timeout.
private final class AckCollector: Sendable {
    private struct State {
        var continuation: CheckedContinuation<BroadcastAcks, Never>?
        var expected = 0
        var responses: [JSONValue] = []
        var armed = false
    }

    private let state = NIOLockedValueBox(State())

    func start(_ continuation: CheckedContinuation<BroadcastAcks, Never>) {
        state.withLockedValue { $0.continuation = continuation }
    }

    func expect(_ count: Int) {
        state.withLockedValue { $0.expected += count }
        check()
    }

    func receive(_ response: JSONValue) {
        state.withLockedValue { $0.responses.append(response) }
        check()
    }

    /// Every server has reported its count (for the local adapter, right after the send).
    func armed() {
        state.withLockedValue { $0.armed = true }
        check()
    }

    private func check() {
        let done = state.withLockedValue { $0.armed && $0.responses.count >= $0.expected }
        if done { finish(complete: true) }
    }

    func finish(complete: Bool) {
        let (continuation, responses) = state.withLockedValue { state in
            defer { state.continuation = nil }
            return (state.continuation, state.responses)
        }
        continuation?.resume(returning: BroadcastAcks(responses: responses, complete: complete))
    }
}

/// Ack ids, unique in the process so socket-level and broadcast acks never collide.
enum AckID {
    private static let counter = NIOLockedValueBox(0)

    static func next() -> Int {
        counter.withLockedValue { value in
            value = value == Int(Int32.max) ? 0 : value + 1
            return value
        }
    }
}
