import HTTPTypes
import Hummingbird

/// The security headers of every response, chosen by what the response is.
///
/// HTML pages get a Content-Security-Policy that allows only our own scripts and styles (no
/// inline script, no `eval`), plus the Socket.IO client from the CDN when the page loads it
/// from there; they cannot be framed. Everything else (JSON, errors, static assets, metrics) is
/// never a document: `default-src 'none'` so that a response opened directly runs nothing.
///
/// `Referrer-Policy: same-origin` rather than `no-referrer`: nothing leaves for other sites
/// (the CDN, links out), and same-origin requests keep a real `Origin` — under `no-referrer`
/// browsers send `Origin: null` on form and other non-CORS posts, which an Origin check refuses.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let pageHeaders: HTTPFields

    /// - Parameter externalScripts: script URLs of other origins the pages load.
    init(externalScripts: [String]) {
        self.pageHeaders = Self.pageHeaders(externalScripts: externalScripts)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        let isPage = response.headers[.contentType]?.hasPrefix("text/html") ?? false
        for field in isPage ? pageHeaders : Self.nonDocumentHeaders {
            response.headers[field.name] = field.value
        }
        return response
    }

    /// For responses that are never rendered as a page; also what the Engine.IO endpoint sends.
    static let nonDocumentHeaders: HTTPFields = [
        .xContentTypeOptions: "nosniff",
        .contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
        .referrerPolicy: "same-origin",
    ]

    static func pageHeaders(externalScripts: [String]) -> HTTPFields {
        // 'self' in connect-src covers ws:/wss: to the page's own host and port (CSP Level 3),
        // so the WebSocket transport needs no scheme-wide source that would reach any host.
        let policy = [
            "default-src 'none'",
            (["script-src", "'self'"] + externalScripts).joined(separator: " "),
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ].joined(separator: "; ")
        return [
            .contentSecurityPolicy: policy,
            .xFrameOptions: "DENY",
            .xContentTypeOptions: "nosniff",
            .referrerPolicy: "same-origin",
        ]
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
