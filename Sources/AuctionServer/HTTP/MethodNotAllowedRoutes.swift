import HTTPTypes
import Hummingbird

/// The answers for methods a path does not have: `405 METHOD_NOT_ALLOWED` with `Allow`, and
/// `OPTIONS` answered `204` with `Allow` (a CORS preflight from an allowed origin is answered
/// before, by `AllowedOriginsMiddleware`).
///
/// Registered after every other route: it reads the router's own route list, so Hummingbird's
/// trie still decides which path a request is on (`/items/{id}` included) and an unknown path
/// stays `404`. `HEAD` is left to `RouterOptions.autoGenerateHeadEndpoints` wherever `GET`
/// exists, and is listed in `Allow` there.
enum MethodNotAllowedRoutes {
    /// The methods answered `405` on a path without them, QUERY (the safe method with a body of
    /// the HTTP WG's draft) included. CONNECT is left out: its target is a host, never one of our
    /// paths.
    static let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options, .trace, query]
    static let query = HTTPRequest.Method("QUERY")!

    static let error = APIError(.methodNotAllowed, "METHOD_NOT_ALLOWED", "This method is not allowed here.")

    static func register(on router: Router<AppRequestContext>) {
        let routes = Dictionary(grouping: router.routes, by: \.path.description)
        for routesOfPath in routes.values {
            let path = routesOfPath[0].path
            let own = Set(routesOfPath.map(\.method))
            let allow = allowHeader(own)
            for method in methods where !own.contains(method) && !(method == .head && own.contains(.get)) {
                if method == .options {
                    router.on(path, method: method) { _, _ in Response(status: .noContent, headers: [.allow: allow]) }
                } else {
                    router.on(path, method: method) { _, _ in error.response(headers: [.allow: allow]) }
                }
            }
        }
    }

    /// The methods of a path that has the routes `own`, in alphabetical order.
    static func allowHeader(_ own: Set<HTTPRequest.Method>) -> String {
        var allowed = own.union([.options])
        if own.contains(.get) { allowed.insert(.head) }
        return allowed.map(\.rawValue).sorted().joined(separator: ", ")
    }
}
