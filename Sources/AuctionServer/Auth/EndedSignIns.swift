import Foundation
import Logging
import NIOConcurrencyHelpers
import RedisClient

/// The sign-ins ended anywhere in the cluster, as this instance has heard of them. Every end is
/// announced on the Redis channel `auction:signins-ended` (without Redis, in this process), and
/// each instance, hearing it, remembers the id for an access token's lifetime and runs its
/// handlers — the gateway disconnects the sockets of that sign-in. Bids are checked against
/// this memory, without a storage round trip; handshakes and REST requests also ask the
/// ``SignInStore``, which is the authority when an announcement was missed.
public final class EndedSignIns: Sendable {
    static let channel = "auction:signins-ended"

    private let redis: RedisClient?
    private let lifetime: TimeInterval
    private let logger: Logger
    private let ended = NIOLockedValueBox<[String: Date]>([:])
    private let handlers = NIOLockedValueBox<[@Sendable (String) async -> Void]>([])

    public init(redis: RedisClient?, accessTokenLifetime: TimeInterval, logger: Logger) {
        self.redis = redis
        self.lifetime = accessTokenLifetime
        self.logger = logger
        redis?.onMessage { [weak self] message in
            guard message.pattern == nil, message.channel == Self.channel, let self else { return }
            let id = String(buffer: message.payload)
            guard RefreshToken.isWellFormedPart(Substring(id)) else { return }
            self.heard(id)
        }
    }

    /// Subscribes to the announcements of other instances (kept through reconnects).
    public func listen() async throws {
        try await redis?.subscribe(Self.channel)
    }

    /// Runs for each ended sign-in this instance hears of, its own included.
    public func onEnded(_ handler: @escaping @Sendable (String) async -> Void) {
        handlers.withLockedValue { $0.append(handler) }
    }

    public func contains(_ signInID: String) -> Bool {
        ended.withLockedValue { $0[signInID].map { $0 > Date() } ?? false }
    }

    /// Tells every instance (this one at once) that these sign-ins ended.
    public func announce(_ signInIDs: [String]) async {
        for id in signInIDs {
            heard(id)
            guard let redis else { continue }
            do {
                try await redis.publish(Array(id.utf8), to: Self.channel)
            } catch {
                logger.warning("sign-out not announced to the other instances", metadata: ["error": "\(error)"])
            }
        }
    }

    private func heard(_ id: String) {
        let now = Date()
        let isNew = ended.withLockedValue { ended in
            if ended.count > 100_000 { ended = ended.filter { $0.value > now } }
            let isNew = ended[id] == nil
            ended[id] = now.addingTimeInterval(lifetime)
            return isNew
        }
        guard isNew else { return }
        let handlers = handlers.withLockedValue { $0 }
        Task { for handler in handlers { await handler(id) } }
    }
}
