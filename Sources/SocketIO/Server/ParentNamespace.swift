import NIOConcurrencyHelpers

/// Namespaces made on demand (Node's `io.of(regex)` / `io.of(fn)`): a client connecting to a
/// name no namespace has gets one when a parent's matcher accepts the name. The parent's
/// middleware and connection handlers run for the sockets of every child, and its emits reach
/// every child.
public final class ParentNamespace: Sendable {
    /// Whether a client may open the namespace `name` with the CONNECT's `auth`.
    public typealias Matcher = @Sendable (_ name: String, _ auth: JSONValue) async -> Bool

    let matcher: Matcher
    private struct Handlers {
        var middleware: [Namespace.Middleware] = []
        var connection: [Namespace.ConnectionHandler] = []
    }

    private let handlers = NIOLockedValueBox(Handlers())
    private let childrenBox = NIOLockedValueBox<[String: Namespace]>([:])

    init(matcher: @escaping Matcher) {
        self.matcher = matcher
    }

    /// A middleware for every child's connections, run before the child's own (those added
    /// later count too, unlike Node's, which copies them when a child is made).
    public func use(_ middleware: @escaping Namespace.Middleware) {
        handlers.withLockedValue { $0.middleware.append(middleware) }
    }

    /// Runs for every accepted socket of every child, before the child's own handlers.
    public func onConnection(_ handler: @escaping Namespace.ConnectionHandler) {
        handlers.withLockedValue { $0.connection.append(handler) }
    }

    /// The children now, by name.
    public var children: [Namespace] { childrenBox.withLockedValue { Array($0.values) } }

    /// Emits to every socket of every child.
    public func emit(_ event: String, _ args: JSONValue...) {
        for child in children { child.broadcastOperator.emit(event, args: args) }
    }

    /// Emits to the rooms in every child.
    public func to(_ rooms: String...) -> ParentBroadcast {
        ParentBroadcast(parent: self, options: BroadcastOptions(rooms: Set(rooms)))
    }

    public func except(_ rooms: String...) -> ParentBroadcast {
        ParentBroadcast(parent: self, options: BroadcastOptions(except: Set(rooms)))
    }

    var middleware: [Namespace.Middleware] { handlers.withLockedValue { $0.middleware } }
    var connectionHandlers: [Namespace.ConnectionHandler] { handlers.withLockedValue { $0.connection } }

    func adopt(_ child: Namespace) {
        childrenBox.withLockedValue { $0[child.name] = child }
    }

    func release(_ child: Namespace) {
        childrenBox.withLockedValue { children in
            if children[child.name] === child { children.removeValue(forKey: child.name) }
        }
    }
}

/// A broadcast to the same rooms of every child of a ``ParentNamespace``.
public struct ParentBroadcast: Sendable {
    let parent: ParentNamespace
    var options: BroadcastOptions

    public func to(_ rooms: String...) -> ParentBroadcast {
        var copy = self
        copy.options.rooms.formUnion(rooms)
        return copy
    }

    public func except(_ rooms: String...) -> ParentBroadcast {
        var copy = self
        copy.options.except.formUnion(rooms)
        return copy
    }

    public func emit(_ event: String, _ args: JSONValue...) {
        for child in parent.children {
            BroadcastOperator(namespace: child, options: options).emit(event, args: args)
        }
    }
}
