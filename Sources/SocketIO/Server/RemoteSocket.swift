/// A socket found by `fetchSockets`, on this server or another of the cluster (Node's
/// `RemoteSocket`): what it is, and what can be done to it from here. Every action goes
/// through the namespace's adapter to the socket's own room, so it reaches the socket wherever
/// it is connected.
public struct RemoteSocket: Sendable {
    public let descriptor: SocketDescriptor
    public let namespace: Namespace

    public var id: String { descriptor.id }
    public var rooms: Set<String> { descriptor.rooms }
    public var data: JSONValue { descriptor.data }

    private var operator_: BroadcastOperator { BroadcastOperator(namespace: namespace, options: BroadcastOptions(rooms: [id])) }

    public func emit(_ event: String, _ args: JSONValue...) {
        operator_.emit(event, args: args)
    }

    public func emit(_ event: String, args: [JSONValue]) {
        operator_.emit(event, args: args)
    }

    /// An acknowledged emit to this socket with a deadline: `emitWithAck` gives its answer
    /// (one response), or throws ``AckTimeout`` with none.
    public func timeout(_ duration: Duration) -> BroadcastOperator {
        operator_.timeout(duration)
    }

    public func join(_ rooms: String...) async {
        await operator_.socketsJoin(Set(rooms))
    }

    public func leave(_ rooms: String...) async {
        await operator_.socketsLeave(Set(rooms))
    }

    /// Disconnects the socket from its namespace; with `close`, closes its connection.
    public func disconnect(close: Bool = false) async {
        await operator_.disconnectSockets(close: close)
    }
}
