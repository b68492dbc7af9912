import NIOCore

/// Sharded pub/sub (Redis 7): a channel lives in the slot of its name, `SPUBLISH` goes to that
/// slot's primary and `SSUBSCRIBE` must be sent to a node serving the slot. On a single Redis every
/// channel is on that Redis.
///
/// Subscriptions are kept, not just sent: each wanted channel is subscribed on the node that owns
/// its slot, over one subscriber connection per node, and a background round (every 250 ms, with
/// the slot map reread every second on a cluster) subscribes again, on its slot's owner, whatever
/// no live connection holds — after a reconnect, a node's failure, or a `sunsubscribe` Redis pushes
/// when the slot leaves the node (a migration). A failover moves nothing: the old primary, now a
/// replica of the same shard, still delivers the channel. Messages arrive through ``onMessage(_:)`` with `isSharded` set.
extension RedisClient {
    static let shardRound: Duration = .milliseconds(250)
    static let slotMapRefresh: Duration = .seconds(1)

    public func ssubscribe(_ channel: String) async throws {
        state.withLockedValue { _ = $0.shardChannels.insert(channel) }
        try? await subscribeShards()
    }

    public func sunsubscribe(_ channel: String) async throws {
        let (node, connection) = state.withLockedValue { state -> (RedisCluster.Node?, RedisConnection?) in
            state.shardChannels.remove(channel)
            guard let node = state.shardSubscribedOn.removeValue(forKey: channel) else { return (nil, nil) }
            return (node, state.shardSubscribers[node])
        }
        guard node != nil, let connection, connection.channel.isActive else { return }
        _ = try await connection.send(Self.arguments("SUNSUBSCRIBE", channel))
    }

    /// The channels subscribed on their owner right now (for tests and health).
    public var shardSubscriptions: [String: RedisCluster.Node] {
        state.withLockedValue { $0.shardSubscribedOn }
    }

    /// `SPUBLISH`: to the primary of the channel's slot; returns how many subscribers got it.
    @discardableResult
    public func spublish(_ payload: [UInt8], to channel: String) async throws -> Int64 {
        statistics.published.add(1, ordering: .relaxed)
        do {
            return try await send([Array("SPUBLISH".utf8), Array(channel.utf8), payload]).integer ?? 0
        } catch {
            statistics.publishFailures.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// Writes an `SPUBLISH` now, in call order with every other message to the same channel (one
    /// connection per node), and returns the future of its reply (see ``sendInOrder(_:key:)``).
    public func spublishInOrder(_ payload: [UInt8], to channel: String) -> EventLoopFuture<RESPValue> {
        statistics.published.add(1, ordering: .relaxed)
        let statistics = self.statistics
        return sendInOrder([Array("SPUBLISH".utf8), Array(channel.utf8), payload], key: channel).flatMapErrorThrowing { error in
            statistics.publishFailures.add(1, ordering: .relaxed)
            throw error
        }
    }

    /// `PUBSUB SHARDNUMSUB channel`, summed over every node (only the shard's nodes count any).
    public func shardSubscriberCount(_ channel: String) async throws -> Int {
        try await countSummedOverNodes("SHARDNUMSUB", channel)
    }

    // MARK: Keeping the subscriptions

    /// Runs until the client stops: a round of ``subscribeShards()`` every 250 ms, the slot map
    /// reread every second on a cluster that has sharded subscriptions.
    func keepShardSubscriptions() async {
        var sinceRefresh: Duration = .zero
        while !isStopped, !Task.isCancelled {
            do {
                try await Task.sleep(for: Self.shardRound)
            } catch {
                return
            }
            let wanted = state.withLockedValue { !$0.shardChannels.isEmpty }
            guard wanted else { continue }
            sinceRefresh += Self.shardRound
            if isCluster, sinceRefresh >= Self.slotMapRefresh {
                sinceRefresh = .zero
                try? await loadSlots()
            }
            try? await subscribeShards()
        }
    }

    /// Subscribes, on the owner of its slot, every wanted channel that no live connection holds.
    func subscribeShards() async throws {
        let plan = state.withLockedValue { state -> [(String, RedisCluster.Node?)] in
            state.shardChannels.sorted().compactMap { channel in
                let owner: RedisCluster.Node?
                if isCluster {
                    owner = state.slots?.primary(of: RedisCluster.slot(of: Array(channel.utf8)))
                } else {
                    owner = RedisCluster.Node(host: url.host, port: url.port)
                }
                // Kept where it is while that node keeps it: after a failover the old primary is a
                // replica of the same shard and still delivers the channel, and moving it would
                // open a gap. Redis pushes `sunsubscribe` when the slot leaves the node.
                if let current = state.shardSubscribedOn[channel], state.shardSubscribers[current]?.channel.isActive == true { return nil }
                return (channel, owner)
            }
        }
        var failure: (any Error)?
        for (channel, owner) in plan {
            guard let owner else { continue }
            do {
                let connection = try await shardSubscriber(for: owner)
                _ = try await connection.send(Self.arguments("SSUBSCRIBE", channel))
                state.withLockedValue { state in
                    if state.shardChannels.contains(channel) { state.shardSubscribedOn[channel] = owner }
                }
            } catch RedisError.server(let message) where RedisCluster.Redirection(message) != nil {
                // The slot moved since the map was read.
                try? await loadSlots()
                failure = RedisError.server(message)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// The subscriber connection to one node for sharded channels, opened on first use; when it
    /// closes, its channels are marked for the next round.
    private func shardSubscriber(for node: RedisCluster.Node) async throws -> RedisConnection {
        try await pooledConnection(
            to: node,
            in: \.shardSubscribers,
            onMessage: { [weak self] message in self?.dispatch(message) },
            onShardUnsubscribed: { [weak self] channel in
                // Redis dropped it (its slot left the node): subscribed again at once, on the owner
                // the reread map names.
                guard let self else { return }
                self.state.withLockedValue { state in
                    if state.shardSubscribedOn[channel] == node { state.shardSubscribedOn.removeValue(forKey: channel) }
                }
                Task {
                    if self.isCluster { try? await self.loadSlots() }
                    try? await self.subscribeShards()
                }
            },
            opened: { [weak self] connection in
                connection.closeFuture.whenComplete { _ in
                    self?.state.withLockedValue { state in
                        if state.shardSubscribers[node] === connection { state.shardSubscribers.removeValue(forKey: node) }
                        for (channel, on) in state.shardSubscribedOn where on == node { state.shardSubscribedOn.removeValue(forKey: channel) }
                    }
                }
            }
        )
    }
}
