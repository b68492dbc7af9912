import Logging
import RedisClient
import SocketIO

/// Which Redis adapter a server uses: the classic one (pub/sub, `createAdapter`) or the sharded
/// one (sharded pub/sub, `createShardedAdapter`).
public enum RedisAdapterKind: String, Sendable, CaseIterable {
    case pubsub
    case sharded

    /// The adapter factory for ``SocketIOConfiguration/adapterFactory``.
    public func factory(redis: RedisClient, logger: Logger) -> @Sendable (Namespace) -> any Adapter {
        switch self {
        case .pubsub: { RedisAdapter(namespace: $0, redis: redis, logger: logger) }
        case .sharded: { ShardedRedisAdapter(namespace: $0, redis: redis, logger: logger) }
        }
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
