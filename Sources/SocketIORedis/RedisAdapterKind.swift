import Logging
import RedisClient
import SocketIO

/// Which Redis adapter a server uses: the classic one (pub/sub, `createAdapter`), the sharded
/// one (sharded pub/sub, `createShardedAdapter`), or the streams one
/// (`@socket.io/redis-streams-adapter`).
public enum RedisAdapterKind: String, Sendable, CaseIterable {
    case pubsub
    case sharded
    case streams

    /// The adapter factory for ``SocketIOConfiguration/adapterFactory``.
    public func factory(redis: RedisClient, logger: Logger) -> @Sendable (Namespace) -> any Adapter {
        switch self {
        case .pubsub: { RedisAdapter(namespace: $0, redis: redis, logger: logger) }
        case .sharded: { ShardedRedisAdapter(namespace: $0, redis: redis, logger: logger) }
        case .streams: StreamsRedisAdapter.factory(redis: redis, logger: logger)
        }
    }
}

extension StreamsRedisAdapter {
    /// The factory of Node's `createAdapter(redisClient, opts)`: one adapter per namespace, and one
    /// `XREAD` loop per stream shared by them.
    public static func factory(
        redis: RedisClient, configuration: StreamsAdapterConfiguration = .init(), logger: Logger
    ) -> @Sendable (Namespace) -> any Adapter {
        let readers = RedisStreamReaders(redis: redis, configuration: configuration, logger: logger)
        return { StreamsRedisAdapter(namespace: $0, redis: redis, configuration: configuration, readers: readers, logger: logger) }
    }
}

extension RedisClient {
    /// A client of `--redis URL` or, with `--redis-cluster host:port,…`, of that cluster (the
    /// URL, when given too, lends its user, password and TLS).
    public static func fromCommandLine(redis: String?, cluster: String?, logger: Logger) throws -> RedisClient? {
        if let cluster {
            let nodes = try cluster.split(separator: ",").map { entry -> RedisCluster.Node in
                guard let node = RedisCluster.Node(entry.trimmingCharacters(in: .whitespaces)) else {
                    throw RedisError.invalidURL("--redis-cluster takes host:port,host:port…, got '\(entry)'")
                }
                return node
            }
            guard let first = nodes.first else { throw RedisError.invalidURL("--redis-cluster names no node") }
            return RedisClient(clusterSeeds: nodes, url: try RedisURL(redis ?? "redis://\(first)"), logger: logger)
        }
        return try redis.map { RedisClient(url: try RedisURL($0), logger: logger) }
    }
}
