import Hummingbird

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
struct HealthRoutes: Sendable {
    let database: Database
    /// Answers whether Redis is reachable; nil when the service runs without Redis.
    let redisReachable: (@Sendable () async -> Bool)?
    /// Why the Redis client's last connection attempt failed, while it is down.
    let redisFailure: (@Sendable () -> String?)?
    let metrics: ServiceMetrics

    func register(on router: Router<AppRequestContext>) {
        router.get("/healthz") { _, _ in JSONResponse.raw(#"{"status":"ok"}"#) }
        router.get("/readyz") { _, _ in
            async let postgres = database.isReachable()
            let redis = await redisReachable?()
            let postgresUp = await postgres
            let ready = postgresUp && (redis ?? true)
            var checks = #""postgres":"\#(postgresUp ? "up" : "down")""#
            if let redis { checks += #","redis":"\#(redis ? "up" : "down")""# }
            if redis == false, let failure = redisFailure?() {
                checks += #","redisError":"# + String(decoding: try JSONCoding.encoder.encode(failure), as: UTF8.self)
            }
            return JSONResponse.raw(#"{"status":"\#(ready ? "ready" : "unavailable")",\#(checks)}"#, status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            metrics.collect()
            var buffer: [UInt8] = []
            metrics.registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
    }
}
