import AuctionCore
import Foundation
import Hummingbird

/// `GET /items`, `POST /items`, `GET /items/{id}`, `GET /items/{id}/bids`.
struct ItemRoutes: Sendable {
    let items: ItemRepository
    let authenticator: Authenticator
    let web: WebRoutes?

    struct NewItem: Decodable {
        var title: String
        var description: String?
        var startingPrice: Int64
        var minIncrement: Int64
        var endsAt: Date
    }

    func register(on router: Router<AppRequestContext>) {
        router.get("/items") { request, _ in
            let limit = try Self.limit(request)
            return try JSONResponse.encode(try await self.items.list(limit: limit))
        }
        router.post("/items") { request, _ in try await self.create(request) }
        router.get("/items/{id}") { request, context in
            // Browsers asking for HTML get the auction room page; API clients get the item.
            if let web, WebRoutes.wantsHTML(request) { return try web.page("item.html") }
            guard let item = try await self.items.find(id: context.parameters.get("id") ?? "") else { throw APIError.itemNotFound }
            return try JSONResponse.encode(item)
        }
        router.get("/items/{id}/bids") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard try await self.items.find(id: id) != nil else { throw APIError.itemNotFound }
            let limit = try Self.limit(request)
            var after: Int64?
            if let raw = request.uri.queryParameters.get("after"), !raw.isEmpty {
                guard let parsed = RecordID.parse(raw) else { throw APIError.invalidInput("Query 'after' must be a bid id.") }
                after = parsed
            }
            return try JSONResponse.encode(try await self.items.bids(itemID: id, after: after, limit: limit))
        }
    }

    func create(_ request: Request) async throws -> Response {
        guard let (user, _) = try await authenticator.authenticate(request.headers) else { throw APIError.unauthorized }
        let body = try await RequestJSON.decode(NewItem.self, from: request)
        let draft: ItemDraft
        do {
            draft = try ItemDraft(
                title: body.title,
                description: body.description ?? "",
                startingPrice: body.startingPrice,
                minIncrement: body.minIncrement,
                endsAt: body.endsAt,
                now: Date()
            )
        } catch {
            throw APIError.invalidInput("Field '\(error.field)' \(error.reason).")
        }
        let item = try await items.create(draft, sellerID: user.id)
        return try JSONResponse.encode(item, status: .created)
    }

    /// `limit`: default 100, at most 1000.
    static func limit(_ request: Request) throws -> Int {
        guard let raw = request.uri.queryParameters.get("limit"), !raw.isEmpty else { return 100 }
        guard let value = Int(raw), value >= 1 else { throw APIError.invalidInput("Query 'limit' must be a whole number from 1 to 1000.") }
        return min(value, 1000)
    }
}
