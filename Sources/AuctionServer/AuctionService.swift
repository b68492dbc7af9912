import AuctionCore
import EngineIO
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import RedisClient
import ServiceLifecycle
import SocketIO
import SocketIORedis

/// One instance of the auction service: REST routes, the Socket.IO gateway at `/socket.io/`,
/// the auction closer, and the PostgreSQL pool, run as one service group.
public struct AuctionService: Sendable {
    public let configuration: ServiceConfiguration
    public let database: Database
    public let io: SocketIOServer
    let application: Application<RouterResponder<AppRequestContext>>
    let closer: AuctionCloser
    /// Present when `REDIS_URL` is set: sessions and broadcasts are then shared by every instance.
    public let redis: RedisClient?

    public init(configuration: ServiceConfiguration, logger: Logger) async throws {
        let metrics = MetricsBootstrap.registry()
        let database = Database(url: configuration.databaseURL, logger: logger)
        let users = UserRepository(database: database, logger: logger)
        let items = ItemRepository(database: database, logger: logger)
        let redis = try configuration.makeRedisClient(logger: logger)
        let serviceMetrics = ServiceMetrics(registry: metrics, database: database, redis: redis)
        let ledger = BidLedger(database: database, logger: logger, onBatch: { serviceMetrics.bidTransaction.record($0) })
        let tokens = await AccessTokens(secret: configuration.jwtSecret, lifetime: TimeInterval(configuration.accessTokenTTL))
        let signInRules = SignInRules(lifetime: TimeInterval(configuration.refreshTokenTTL), accessTokenLifetime: tokens.lifetime)
        let signIns: any SignInStore = redis.map { RedisSignInStore(redis: $0, rules: signInRules) } ?? InMemorySignInStore(rules: signInRules)
        let endedSignIns = EndedSignIns(redis: redis, accessTokenLifetime: tokens.lifetime, logger: logger)
        try await endedSignIns.listen()
        let authenticator = Authenticator(tokens: tokens, users: users, signIns: signIns, ended: endedSignIns, logger: logger)
        let sessions: any SessionStore = redis.map { RedisSessionStore(redis: $0) } ?? InMemorySessionStore()
        let knownCookies = KnownSessionCookies(lifetime: TimeInterval(configuration.sessionTTL))
        let handshake = HandshakeGuard(
            authenticator: authenticator, sessions: sessions, configuration: configuration, logger: logger, knownCookies: knownCookies
        )

        var engine = EngineConfiguration(path: "/socket.io/", cors: .origins(configuration.corsOrigins))
        engine.allowRequest = { await handshake.allow($0) }
        engine.initialHeaders = { await handshake.initialHeaders($0, $1) }
        // Polling bodies carry other users' text as text/plain: never to be sniffed as HTML.
        engine.headers = { _ in SecurityHeadersMiddleware.nonDocumentHeaders }
        engine.sessionLimits = SessionLimits(perAddress: configuration.maxConnectionsPerAddress, perIdentity: configuration.maxConnectionsPerUser)
        let proxies = configuration.trustedProxies
        engine.clientAddress = { proxies.clientAddress($0) }
        if let tag = configuration.instanceID {
            // The load balancer routes `sid=<tag>.…` to this instance (deploy/nginx); the random
            // part is the whole default id, so the tag adds to it and takes nothing away.
            engine.generateID = { _ in "\(tag).\(SessionID.make())" }
        }
        engine.webSocketWriteCoalescing = .milliseconds(configuration.writeWindowMilliseconds)
        var socketIO = SocketIOConfiguration(engine: engine)
        if configuration.recoverySeconds > 0 {
            // Middlewares are skipped for a recovered socket, so this is the check that the
            // connection presenting a pid is the user the kept socket belonged to.
            socketIO.connectionStateRecovery = ConnectionStateRecovery(
                maxDisconnectionDuration: .seconds(configuration.recoverySeconds),
                shouldRestore: { handshake, kept in AuctionGateway.mayRestore(kept, to: handshake) }
            )
        }
        if let redis {
            switch configuration.effectiveAdapter {
            case .pubsub:
                socketIO.adapterFactory = { RedisAdapter(namespace: $0, redis: redis, logger: logger) }
            case .sharded:
                let sharded = ShardedAdapterConfiguration(subscriptionMode: configuration.shardedMode)
                socketIO.adapterFactory = { ShardedRedisAdapter(namespace: $0, redis: redis, configuration: sharded, logger: logger) }
            case .streams:
                socketIO.adapterFactory = StreamsRedisAdapter.factory(redis: redis, logger: logger)
            }
        }
        let io = SocketIOServer(configuration: socketIO, logger: logger)
        serviceMetrics.observe(io)
        let gateway = AuctionGateway(
            namespace: io.of("/"),
            items: items,
            ledger: ledger,
            bidLimiter: BidLimiter(limits: configuration.bidLimits, redis: redis, logger: logger),
            endedSignIns: endedSignIns,
            metrics: serviceMetrics,
            logger: logger
        )
        gateway.mount()

        let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: RequestLogMiddleware(metrics: serviceMetrics))
        // Outside APIErrorMiddleware, so error answers get the headers too.
        router.add(middleware: SecurityHeadersMiddleware(externalScripts: WebRoutes.externalScripts(clientScriptPath: configuration.socketIOClientJS)))
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: AllowedOriginsMiddleware(origins: configuration.corsOrigins))
        router.add(middleware: CrossSiteRequestGuard(origins: configuration.corsOrigins))
        AuthRoutes(
            users: users,
            tokens: tokens,
            authenticator: authenticator,
            hasher: PasswordHasher(),
            sessions: sessions,
            knownCookies: knownCookies,
            signIns: signIns,
            ended: endedSignIns,
            loginThrottle: LoginThrottle(limits: configuration.loginLimits, redis: redis, logger: logger),
            configuration: configuration
        ).register(on: router)
        let web = WebRoutes(root: URL(fileURLWithPath: configuration.webRoot), clientScriptPath: configuration.socketIOClientJS)
        web.register(on: router)
        ItemRoutes(items: items, authenticator: authenticator, web: web).register(on: router)
        var redisReachable: (@Sendable () async -> Bool)?
        var redisFailure: (@Sendable () -> String?)?
        if let redis {
            // Both connections: a subscriber that cannot subscribe is as bad as no Redis.
            redisReachable = { redis.isHealthy ? await redis.ping() : false }
            redisFailure = { redis.lastFailure?.explanation }
        }
        HealthRoutes(database: database, redisReachable: redisReachable, redisFailure: redisFailure, metrics: serviceMetrics).register(on: router)
        OpenAPIRoutes.register(on: router)
        // Last: it answers the methods the routes above do not have.
        MethodNotAllowedRoutes.register(on: router)

        self.configuration = configuration
        self.database = database
        self.io = io
        self.redis = redis
        self.closer = AuctionCloser(items: items, ledger: ledger, gateway: gateway, logger: logger)
        self.application = Application(
            router: router,
            server: .engineIO(io.engine, http1: Self.http1),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil, backlog: 1024),
            logger: logger
        )
    }

    /// Runs until SIGTERM/SIGINT. Shutdown order: close Socket.IO sessions (clients reconnect
    /// elsewhere, held polls are answered), drain HTTP, stop the closer, close the pool.
    public func run(logger: Logger) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: (redis.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? []) + [ServiceGroupConfiguration.ServiceConfiguration]([
                    .init(service: database),
                    .init(service: closer),
                    .init(service: application),
                    .init(service: io),
                ]),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

extension AuctionService {
    /// Node's default header limit (16 KiB), far above any cookie and token we set; a request
    /// with larger headers is answered 431.
    static let http1 = HTTP1Channel.Configuration(
        httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 16 * 1024)
    )
}

/// swift-metrics can be bootstrapped once per process; every service instance shares it.
enum MetricsBootstrap {
    private static let shared = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

    static func registry() -> PrometheusCollectorRegistry {
        shared.withLockedValue { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }
}
