import NIOConcurrencyHelpers
import NIOCore

/// The acknowledgements a broadcast with acks collected.
public struct BroadcastAcks: Sendable, Equatable {
    /// One response per socket that answered (its first ack argument).
    public var responses: [JSONValue]
    /// False when the timeout passed before every reached socket answered.
    public var complete: Bool

    public init(responses: [JSONValue], complete: Bool) {
        self.responses = responses
        self.complete = complete
    }

    /// The responses when complete, else ``AckTimeout`` with them.
    public func get() throws(AckTimeout) -> [JSONValue] {
        guard complete else { throw AckTimeout(responses: responses) }
        return responses
    }

    var result: Result<[JSONValue], AckTimeout> { Result { () throws(AckTimeout) in try get() } }
}

/// Not every acknowledgement came in time (Node's timeout error, with its `responses`): what
/// did come is in `responses`.
public struct AckTimeout: Error, Sendable, Equatable {
    public var responses: [JSONValue]

    public init(responses: [JSONValue]) {
        self.responses = responses
    }
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

    /// Emits, returning once no later broadcast of any server can overtake this one.
    public func emitInOrder(_ event: String, _ args: JSONValue...) async {
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name)
        await namespace.adapter.broadcastInOrder(packet, options: options)
    }

    /// Emits and waits for every reached socket to acknowledge (one response each, in arrival
    /// order); past the timeout (set with ``timeout(_:)``, 10 s when unset) throws
    /// ``AckTimeout`` with the responses that came.
    public func emitWithAck(_ event: String, _ args: JSONValue...) async throws(AckTimeout) -> [JSONValue] {
        try await emitWithAck(event, args: args)
    }

    public func emitWithAck(_ event: String, args: [JSONValue]) async throws(AckTimeout) -> [JSONValue] {
        try await collectAcks(event, args: args).get()
    }

    /// The callback form (Node's `io.timeout(ms).emit(event, ...args, (err, responses) => …)`).
    public func emit(_ event: String, args: [JSONValue], ack: @escaping @Sendable (Result<[JSONValue], AckTimeout>) -> Void) {
        Task { ack(await collectAcks(event, args: args).result) }
    }

    /// Like ``emitWithAck(_:args:)``, answering with what came and whether it is complete
    /// instead of throwing.
    public func collectAcks(_ event: String, args: [JSONValue]) async -> BroadcastAcks {
        let id = AckID.next()
        let packet = SocketIOPacket.event(event, args, namespace: namespace.name, id: id)
        let collector = AckCollector()
        let timeout = options.flags.timeout ?? .seconds(10)
        let adapter = namespace.adapter
        let options = self.options
        let timer = Task {
            try? await Task.sleep(for: timeout)
            collector.finish(complete: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            collector.start(continuation)
            adapter.broadcastWithAck(
                packet,
                options: options,
                clientCount: { collector.serverReported(clients: $0) },
                ack: { collector.receive($0) }
            )
            // Each server reports its client count once; complete when all have, and all acked.
            let isLocal = options.flags.local
            Task {
                let servers = isLocal ? 1 : await adapter.serverCount()
                collector.expectServers(servers)
            }
        }
    }

    /// The matching sockets of every server, each one something to act on.
    public func fetchSockets() async -> [RemoteSocket] {
        await namespace.adapter.fetchSockets(options).map { RemoteSocket(descriptor: $0, namespace: namespace) }
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

/// Gathers the acks of one broadcast; finishes when every server reported its client count and
/// every reached client answered, or on timeout.
private final class AckCollector: Sendable {
    private struct State {
        var continuation: CheckedContinuation<BroadcastAcks, Never>?
        var expectedServers: Int?
        var reportedServers = 0
        var expectedClients = 0
        var responses: [JSONValue] = []
    }

    private let state = NIOLockedValueBox(State())

    func start(_ continuation: CheckedContinuation<BroadcastAcks, Never>) {
        state.withLockedValue { $0.continuation = continuation }
    }

    func serverReported(clients: Int) {
        state.withLockedValue {
            $0.reportedServers += 1
            $0.expectedClients += clients
        }
        check()
    }

    func expectServers(_ count: Int) {
        state.withLockedValue { $0.expectedServers = count }
        check()
    }

    func receive(_ response: JSONValue) {
        state.withLockedValue { $0.responses.append(response) }
        check()
    }

    private func check() {
        let done = state.withLockedValue { state in
            guard let expected = state.expectedServers else { return false }
            return state.reportedServers >= expected && state.responses.count >= state.expectedClients
        }
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
/// Ack ids, unique in the process; cluster adapters draw local ids for remote broadcasts here.
public enum AckID {
    private static let counter = NIOLockedValueBox(0)

    public static func next() -> Int {
        counter.withLockedValue { value in
            value = value == Int(Int32.max) ? 0 : value + 1
            return value
        }
    }
}
