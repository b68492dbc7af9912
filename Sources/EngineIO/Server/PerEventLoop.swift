import NIOConcurrencyHelpers
import NIOCore

/// One value per event loop, made on first use and kept as long as this is.
package final class PerEventLoop<Value: Sendable>: Sendable {
    private let values = NIOLockedValueBox<[ObjectIdentifier: Value]>([:])
    private let make: @Sendable (any EventLoop) -> Value

    package init(_ make: @escaping @Sendable (any EventLoop) -> Value) {
        self.make = make
    }

    package subscript(_ eventLoop: any EventLoop) -> Value {
        values.withLockedValue { values in
            let key = ObjectIdentifier(eventLoop)
            if let value = values[key] { return value }
            let value = make(eventLoop)
            values[key] = value
            return value
        }
    }
}
