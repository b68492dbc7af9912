import NIOConcurrencyHelpers
import SocketIO

/// Requests this server sent to the others, by request id, until answered or expired.
final class PendingRequests: Sendable {
    enum Kind: Sendable {
        /// Collects one answer per server (fetchSockets' socket arrays, serverSideEmit acks).
        case collect(expected: Int, received: [JSONValue], continuation: CheckedContinuation<[JSONValue], Never>)
        /// A broadcast with acks: client counts and acks go straight to the operator.
        case broadcastAck(clientCount: @Sendable (Int) -> Void, ack: @Sendable (JSONValue) -> Void)
    }

    private let requests = NIOLockedValueBox<[String: Kind]>([:])

    func contains(_ id: String) -> Bool {
        requests.withLockedValue { $0[id] != nil }
    }

    func add(_ id: String, _ kind: Kind, expiresIn: Duration) {
        requests.withLockedValue { $0[id] = kind }
        Task {
            try? await Task.sleep(for: expiresIn)
            self.expire(id)
        }
    }

    /// Registers, runs `send`, and waits for `expected` answers or the timeout; returns what came.
    func collect(_ id: String, expected: Int, timeout: Duration, send: @Sendable () -> Void) async -> [JSONValue] {
        await withCheckedContinuation { continuation in
            requests.withLockedValue { $0[id] = .collect(expected: expected, received: [], continuation: continuation) }
            send()
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
        }
    }

    /// One server's answer to a collecting request.
    func answer(_ id: String, with value: JSONValue) {
        let finished: (CheckedContinuation<[JSONValue], Never>, [JSONValue])? = requests.withLockedValue { requests in
            guard case .collect(let expected, var received, let continuation)? = requests[id] else { return nil }
            received.append(value)
            if received.count >= expected {
                requests.removeValue(forKey: id)
                return (continuation, received)
            }
            requests[id] = .collect(expected: expected, received: received, continuation: continuation)
            return nil
        }
        if let (continuation, received) = finished { continuation.resume(returning: received) }
    }

    func broadcastHandlers(_ id: String) -> (clientCount: @Sendable (Int) -> Void, ack: @Sendable (JSONValue) -> Void)? {
        requests.withLockedValue { requests in
            guard case .broadcastAck(let clientCount, let ack)? = requests[id] else { return nil }
            return (clientCount, ack)
        }
    }

    private func expire(_ id: String) {
        let expired = requests.withLockedValue { $0.removeValue(forKey: id) }
        if case .collect(_, let received, let continuation)? = expired {
            continuation.resume(returning: received)
        }
    }
}
