import Foundation
import HTTPTypes
import Hummingbird

/// Refuses cross-site writes. `SameSite=Strict` cookies do not stop them from another port of
/// the same host (same site, different origin), and a `no-cors` form or `fetch` can send any body
/// as `text/plain`. So every state-changing request (any method but GET, HEAD and OPTIONS):
/// - from a browser page must come from an allowed origin (`CORS_ORIGINS`) or this very origin:
///   a foreign `Origin`, or `Sec-Fetch-Site: cross-site`/`same-site` with no allowed `Origin`, is
///   `403 CROSS_SITE_REQUEST`. A request with neither header is not from a browser page
///   (browsers send `Origin` on every cross-origin POST), so it goes on;
/// - with a body must be `Content-Type: application/json` (`415 UNSUPPORTED_MEDIA_TYPE`), a
///   type no page can send cross-origin without a CORS preflight.
struct CrossSiteRequestGuard<Context: RequestContext>: RouterMiddleware {
    static var secFetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }

    let origins: Set<String>

    init(origins: [String]) {
        self.origins = Set(origins)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = refusal(request) {
            context.logger.info(
                "request refused",
                metadata: ["reason": "\(refusal.code)", "path": "\(request.uri.path)", "origin": "\(request.headers[.origin] ?? "-")"]
            )
            throw refusal
        }
        return try await next(request, context)
    }

    func refusal(_ request: Request) -> APIError? {
        switch request.method {
        case .get, .head, .options: return nil
        default: break
        }
        if let origin = request.headers[.origin] {
            guard origins.contains(origin) || isSameOrigin(origin, request) else { return .crossSiteRequest }
        } else if let site = request.headers[Self.secFetchSite], site != "same-origin", site != "none" {
            return .crossSiteRequest
        }
        if Self.hasBody(request), !Self.isJSON(request.headers[.contentType]) { return .unsupportedMediaType }
        return nil
    }

    private func isSameOrigin(_ origin: String, _ request: Request) -> Bool {
        guard let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }

    /// `application/json`, with or without parameters such as `charset=utf-8`.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces).lowercased()
        return type == "application/json"
    }
}

extension APIError {
    static let crossSiteRequest = APIError(.forbidden, "CROSS_SITE_REQUEST", "Requests from pages of other origins are refused.")
    static let unsupportedMediaType = APIError(.unsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Send the body as Content-Type: application/json.")
}
