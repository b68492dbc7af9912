import Hummingbird

/// One log line per request (method, path, status, duration), and the request counted in
/// ``ServiceMetrics`` under its route template.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let status: Int
        let response: Response
        do {
            response = try await next(request, context)
            status = Int(response.status.code)
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context: context, status: Int(status), elapsed: ContinuousClock.now - started)
            throw error
        }
        record(request, context: context, status: status, elapsed: ContinuousClock.now - started)
        return response
    }

    private func record(_ request: Request, context: Context, status: Int, elapsed: Duration) {
        context.logger.info(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)",
                "path": "\(request.uri.path)",
                "status": "\(status)",
                "ms": "\(elapsed.components.attoseconds / 1_000_000_000_000_000 + elapsed.components.seconds * 1000)",
            ]
        )
        // The template, never the path: ids in paths would make a series per item.
        metrics.request(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: status, duration: elapsed)
    }
}
