import NIOConcurrencyHelpers

/// What a scheduled callback (a heartbeat, an upgrade or connect deadline) holds of the object
/// it calls back, instead of a weak reference. A weak reference gives its object a side table,
/// and every retain and release of that object then takes the runtime's slow path — for a
/// session or a client, several on every message delivered. The object sets itself once made
/// and lets go when it ends; a callback that fires after that finds nothing.
package final class CallbackTarget<Target: AnyObject & Sendable>: Sendable {
    private let target = NIOLockedValueBox<Target?>(nil)

    package init() {}

    package func set(_ object: Target) {
        target.withLockedValue { $0 = object }
    }

    package var object: Target? { target.withLockedValue { $0 } }

    /// The object has ended: callbacks still scheduled no longer reach it, nor keep it alive.
    package func release() {
        target.withLockedValue { $0 = nil }
    }
}
