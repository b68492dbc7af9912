import ServiceLifecycle

extension SocketIOServer: Service {
    /// Waits for graceful shutdown, then closes every session with a `close` packet so that
    /// clients reconnect elsewhere and held polls are answered before the HTTP server drains.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}
