import Foundation
import Hummingbird

/// The browser pages: `GET /` and `GET /items/{id}` (for requests that accept HTML), their
/// static assets under `/static/`, and the official Socket.IO client at
/// `/socket.io/socket.io.min.js` when `SOCKETIO_CLIENT_JS` names it.
struct WebRoutes: Sendable {
    /// The public CDN copy of the same client, pinned by a subresource-integrity hash, used when
    /// no local file is configured.
    static let cdnScriptURL = "https://cdn.socket.io/4.8.1/socket.io.min.js"
    static let cdnScript =
        #"<script src="\#(cdnScriptURL)" integrity="sha384-mkQ3/7FUtcGyoppY6bz/PORYoGqOl7/aSUMn2ymDOJcapfS6PHqxhRTMh1RR0Q6+" crossorigin="anonymous"></script>"#
    static let localScript = #"<script src="/socket.io/socket.io.min.js"></script>"#
    static let placeholder = "<!--SOCKETIO_CLIENT-->"

    let root: URL
    let clientScriptPath: String?

    /// The scripts of other origins the pages load: the CDN client unless a local file is served.
    static func externalScripts(clientScriptPath: String?) -> [String] {
        clientScriptPath == nil ? [cdnScriptURL] : []
    }

    static func wantsHTML(_ request: Request) -> Bool {
        (request.headers[.accept] ?? "").contains("text/html")
    }

    func register(on router: Router<AppRequestContext>) {
        router.get("/") { _, _ in try page("index.html") }
        router.get("/socket.io/socket.io.min.js") { _, _ in
            guard let clientScriptPath, let data = FileManager.default.contents(atPath: clientScriptPath) else {
                throw APIError.notFound
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/javascript; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
            )
        }
        router.get("/static/{file}") { _, context in
            let name = context.parameters.get("file") ?? ""
            guard Self.isSafeName(name), let type = Self.contentType(name),
                let data = FileManager.default.contents(atPath: root.appendingPathComponent("static").appendingPathComponent(name).path)
            else { throw APIError.notFound }
            return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    /// An HTML page with the Socket.IO client script put in.
    func page(_ name: String) throws -> Response {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(name).path) else { throw APIError.notFound }
        let html = String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: Self.placeholder, with: clientScriptPath == nil ? Self.cdnScript : Self.localScript)
        return Response(
            status: .ok,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html))
        )
    }

    /// Plain file names only: no separators, no dot-dot.
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 100 && !name.hasPrefix(".")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
    }

    static func contentType(_ name: String) -> String? {
        switch name.split(separator: ".").last {
        case "js": "application/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        default: nil
        }
    }
}
