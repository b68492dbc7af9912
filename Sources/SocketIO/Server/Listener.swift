import NIOConcurrencyHelpers

/// What `on`, `once`, `onAny` and the other listener calls return: hand it to ``Socket/off(_:)``
/// to remove that listener (Swift closures have no identity to remove them by, as Node's do).
public struct Listener: Hashable, Sendable {
    let id: Int

    private static let counter = NIOLockedValueBox(0)

    static func next() -> Listener {
        Listener(id: counter.withLockedValue { value in
            value &+= 1
            return value
        })
    }
}

/// A listener with its handler; `once` ones are removed as they are taken.
struct Registered<Handler: Sendable>: Sendable {
    let listener: Listener
    let once: Bool
    let handler: Handler

    init(_ handler: Handler, once: Bool = false) {
        self.listener = Listener.next()
        self.once = once
        self.handler = handler
    }
}

extension Array {
    /// Removes the listener's entry; whether there was one.
    mutating func remove<Handler>(_ listener: Listener) -> Bool where Element == Registered<Handler> {
        guard let index = firstIndex(where: { $0.listener == listener }) else { return false }
        remove(at: index)
        return true
    }

    /// The entries to call now; `once` ones leave the list as they are taken.
    mutating func take<Handler>() -> [Registered<Handler>] where Element == Registered<Handler> {
        let taken = self
        if contains(where: \.once) { removeAll(where: \.once) }
        return taken
    }
}

/// Thrown by a packet middleware (``Socket/use(_:)``) to refuse an event: the event's handlers
/// do not run, and the socket's error listeners get it — or, when it has none, the client gets
/// an `error` event with `{"message": message, "data": data}`.
public struct PacketRefusal: Error, Sendable {
    public var message: String
    public var data: JSONValue?

    public init(_ message: String, data: JSONValue? = nil) {
        self.message = message
        self.data = data
    }

    /// What the client's `error` event carries for any error a middleware threw.
    static func payload(for error: any Error) -> JSONValue {
        let refusal = error as? PacketRefusal ?? PacketRefusal("\(error)")
        var members = [JSONMember(key: "message", value: .string(refusal.message))]
        if let data = refusal.data { members.append(JSONMember(key: "data", value: data)) }
        return .object(members)
    }
}
