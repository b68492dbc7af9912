import Foundation
import RedisClient
import SocketIORedis
import Logging

/// Why the service refuses to start: the variable and what is wrong with it.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
}

/// Settings from the environment (see the README's table), with the contract's defaults.
public struct ServiceConfiguration: Sendable {
    public static let developmentSecret = "dev-only-secret-change-me-0123456789abcdef"
    public static let defaultOrigins = [
        "http://localhost:8080", "http://127.0.0.1:8080",
        "http://localhost:3000", "http://127.0.0.1:3000",
        "http://localhost:3001", "http://127.0.0.1:3001",
    ]

    public var host: String
    public var port: Int
    public var databaseURL: DatabaseURL
    public var redisURL: String?
    /// How `rediss://` checks the server (`REDIS_TLS_CA_FILE`) and the client certificate it
    /// shows (`REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`).
    public var redisTLS = RedisTLS()
    /// A Redis Cluster's seed nodes (`REDIS_CLUSTER_NODES=host:port,host:port,…`); the user,
    /// password and TLS then come from `REDIS_URL` when it is set too.
    public var redisClusterNodes: [RedisCluster.Node]?
    /// The Redis adapter (`SOCKETIO_ADAPTER`): `pubsub` (classic) by default on a single Redis,
    /// `sharded` by default on a Cluster; the sharded adapter's subscription mode
    /// (`SOCKETIO_SHARDED_MODE`, `static` by default — see the README for why).
    public var socketIOAdapter: RedisAdapterKind?
    public var shardedMode = ShardedAdapterConfiguration.SubscriptionMode.static
    /// Connection state recovery (`SOCKETIO_RECOVERY_SECONDS`): how long a dropped socket can
    /// come back with its id, rooms and missed events; 0 turns it off. It works with the
    /// in-process adapter (no Redis) and the streams adapter; the pub/sub adapters do not recover.
    public var recoverySeconds = 120
    /// Milliseconds between writes to one WebSocket (`SOCKETIO_WRITE_WINDOW_MS`, 2 by default, 0
    /// to 1000): the latency a broadcast may wait so that what comes meanwhile shares its write
    /// (``EngineConfiguration/webSocketWriteCoalescing``).
    public var writeWindowMilliseconds = 2
    public var jwtSecret: String
    public var accessTokenTTL: Int
    public var sessionTTL: Int
    public var corsOrigins: [String]
    public var cookieSecure: Bool
    public var isProduction: Bool
    /// File with the official Socket.IO browser bundle to serve, if any.
    public var socketIOClientJS: String?
    /// Folder of the browser pages (`index.html`, `item.html`, `static/`): `auction serve` sets
    /// it to the one ``ShippedFolder/web`` finds (`AUCTION_WEB_DIR`, else beside the executable).
    public var webRoot = "web"
    /// True when the development JWT secret is in use (the service logs a loud warning).
    public var usesDevelopmentSecret: Bool
    /// Peers whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`, none by default).
    public var trustedProxies: TrustedProxies = .none
    /// Socket.IO connections open at once from one client address (`MAX_CONNECTIONS_PER_ADDRESS`).
    public var maxConnectionsPerAddress = 1000
    /// Socket.IO connections open at once for one user (`MAX_CONNECTIONS_PER_USER`).
    public var maxConnectionsPerUser = 32
    /// This instance's tag (`INSTANCE_ID`, `[a-z0-9]{1,16}`): when set, Engine.IO session ids are
    /// `<tag>.<random>`, so a load balancer can send a session's requests to its instance by the
    /// `sid` alone. Unset: plain random ids.
    public var instanceID: String?
    /// Seconds start-up waits for PostgreSQL to accept connections (`DATABASE_WAIT`).
    public var databaseWait = 30
    /// Seconds a sign-in lives after its last refresh (`REFRESH_TOKEN_TTL`, 14 days).
    public var refreshTokenTTL = 14 * 24 * 3600
    /// Failed sign-ins per account, per address, and the window they are counted in
    /// (`LOGIN_FAILURES_PER_ACCOUNT`, `LOGIN_FAILURES_PER_ADDRESS`, `LOGIN_FAILURE_WINDOW`).
    public var loginLimits = LoginThrottle.Limits(perAccount: 10, perAddress: 100, window: 900)
    /// Bids per user across the cluster: `BID_BURST` at once, `BID_RATE` a second.
    var bidLimits = BidLimiter.Limits(burst: 10, perSecond: 10)

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceConfiguration {
        func integer(_ name: String, _ fallback: Int, allowingZero: Bool = false) throws -> Int {
            guard let raw = environment[name], !raw.isEmpty else { return fallback }
            guard let value = Int(raw), value > 0 || (allowingZero && value == 0) else {
                let kind = allowingZero ? "a whole number, 0 or more" : "a positive whole number"
                throw ConfigurationError(description: "\(name) must be \(kind), got '\(raw)'")
            }
            return value
        }
        let isProduction = environment["APP_ENV"] == "production"
        guard let rawURL = environment["DATABASE_URL"], !rawURL.isEmpty else {
            throw ConfigurationError(description: "DATABASE_URL is required (postgres://user:pass@host:port/db)")
        }
        let databaseURL = try DatabaseURL(rawURL)
        var secret = environment["JWT_SECRET"] ?? ""
        var development = false
        if secret.isEmpty {
            if isProduction { throw ConfigurationError(description: "JWT_SECRET is required when APP_ENV=production: set it to 32 or more random bytes (openssl rand -base64 48)") }
            secret = developmentSecret
            development = true
        }
        if isProduction && secret.utf8.count < 32 {
            throw ConfigurationError(description: "JWT_SECRET must be at least 32 bytes when APP_ENV=production, got \(secret.utf8.count): set it to 32 or more random bytes (openssl rand -base64 48)")
        }
        let origins = (environment["CORS_ORIGINS"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? defaultOrigins)
            .filter { !$0.isEmpty }
        var configuration = ServiceConfiguration(
            host: environment["HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1",
            port: try integer("PORT", 3000),
            databaseURL: databaseURL,
            redisURL: environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 },
            jwtSecret: secret,
            accessTokenTTL: try integer("ACCESS_TOKEN_TTL", 900),
            sessionTTL: try integer("SESSION_TTL", 1800),
            corsOrigins: origins,
            cookieSecure: environment["COOKIE_SECURE"] == "true" || environment["COOKIE_SECURE"] == "1" || isProduction,
            isProduction: isProduction,
            socketIOClientJS: environment["SOCKETIO_CLIENT_JS"].flatMap { $0.isEmpty ? nil : $0 },
            usesDevelopmentSecret: development
        )
        configuration.trustedProxies = try TrustedProxies(parsing: environment["TRUSTED_PROXIES"] ?? "")
        configuration.instanceID = try instanceTag(environment["INSTANCE_ID"])
        configuration.maxConnectionsPerAddress = try integer("MAX_CONNECTIONS_PER_ADDRESS", configuration.maxConnectionsPerAddress)
        configuration.maxConnectionsPerUser = try integer("MAX_CONNECTIONS_PER_USER", configuration.maxConnectionsPerUser)
        configuration.databaseWait = try integer("DATABASE_WAIT", configuration.databaseWait)
        configuration.refreshTokenTTL = try integer("REFRESH_TOKEN_TTL", configuration.refreshTokenTTL)
        configuration.loginLimits = LoginThrottle.Limits(
            perAccount: try integer("LOGIN_FAILURES_PER_ACCOUNT", configuration.loginLimits.perAccount),
            perAddress: try integer("LOGIN_FAILURES_PER_ADDRESS", configuration.loginLimits.perAddress),
            window: try integer("LOGIN_FAILURE_WINDOW", configuration.loginLimits.window)
        )
        if let raw = environment["REDIS_CLUSTER_NODES"], !raw.trimmingCharacters(in: .whitespaces).isEmpty {
            var nodes: [RedisCluster.Node] = []
            for entry in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
                guard let node = RedisCluster.Node(entry) else {
                    throw ConfigurationError(description: "REDIS_CLUSTER_NODES must be host:port,host:port,… (any nodes of the cluster), got '\(entry)'")
                }
                nodes.append(node)
            }
            configuration.redisClusterNodes = nodes
        }
        if let raw = environment["SOCKETIO_ADAPTER"], !raw.isEmpty {
            guard let kind = RedisAdapterKind(rawValue: raw) else {
                throw ConfigurationError(description: "SOCKETIO_ADAPTER must be pubsub, sharded or streams, got '\(raw)'")
            }
            configuration.socketIOAdapter = kind
        }
        if let raw = environment["SOCKETIO_SHARDED_MODE"], !raw.isEmpty {
            guard let mode = ShardedAdapterConfiguration.SubscriptionMode(rawValue: raw) else {
                throw ConfigurationError(description: "SOCKETIO_SHARDED_MODE must be static, dynamic or dynamic-private, got '\(raw)'")
            }
            configuration.shardedMode = mode
        }
        func path(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        configuration.redisTLS = RedisTLS(caFile: path("REDIS_TLS_CA_FILE"), certificateFile: path("REDIS_TLS_CERT_FILE"), keyFile: path("REDIS_TLS_KEY_FILE"))
        configuration.recoverySeconds = try integer("SOCKETIO_RECOVERY_SECONDS", configuration.recoverySeconds, allowingZero: true)
        configuration.writeWindowMilliseconds = try integer("SOCKETIO_WRITE_WINDOW_MS", configuration.writeWindowMilliseconds, allowingZero: true)
        guard configuration.writeWindowMilliseconds <= 1000 else {
            throw ConfigurationError(description: "SOCKETIO_WRITE_WINDOW_MS must be at most 1000, got '\(configuration.writeWindowMilliseconds)'")
        }
        configuration.bidLimits = BidLimiter.Limits(
            burst: try integer("BID_BURST", configuration.bidLimits.burst),
            perSecond: try integer("BID_RATE", configuration.bidLimits.perSecond)
        )
        return configuration
    }

    /// `INSTANCE_ID`: lowercase letters and digits only, so the tag never needs escaping in a URL
    /// or in the load balancer's pattern, and never contains the `.` that ends it in a session id.
    static func instanceTag(_ raw: String?) throws -> String? {
        guard let raw, !raw.isEmpty else { return nil }
        let allowed = raw.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
        guard allowed, raw.utf8.count <= 16 else {
            throw ConfigurationError(description: "INSTANCE_ID must be 1 to 16 lowercase letters or digits (e.g. a, b or 3000), got '\(raw)'")
        }
        return raw
    }
}

extension ServiceConfiguration {
    /// The Redis client these settings name: a Redis Cluster (`REDIS_CLUSTER_NODES`, with the
    /// credentials and TLS of `REDIS_URL` if set, whose host is one more seed), a single Redis
    /// (`REDIS_URL`), or none.
    public func makeRedisClient(logger: Logger) throws(RedisError) -> RedisClient? {
        if let nodes = redisClusterNodes, let first = nodes.first {
            let url = try RedisURL(redisURL ?? "redis://\(first)")
            let own = RedisCluster.Node(host: url.host, port: url.port)
            return RedisClient(clusterSeeds: nodes.contains(own) ? nodes : nodes + [own], url: url, tls: redisTLS, logger: logger)
        }
        guard let redisURL else { return nil }
        return RedisClient(url: try RedisURL(redisURL), tls: redisTLS, logger: logger)
    }

    /// `SOCKETIO_ADAPTER`, else sharded on a Cluster and classic on a single Redis.
    public var effectiveAdapter: RedisAdapterKind {
        socketIOAdapter ?? (redisClusterNodes == nil ? .pubsub : .sharded)
    }
}

/// `postgres://user:pass@host:port/db`
public struct DatabaseURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    public init(_ string: String) throws {
        guard let components = URLComponents(string: string),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw ConfigurationError(description: "DATABASE_URL must look like postgres://user:pass@host:port/db")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? self.username : path
    }
}
