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
            let badAfter = APIError.invalidInput("Query 'after' must be a bid id.")
            if let raw = try Self.query("after", of: request, else: badAfter) {
                guard let parsed = RecordID.parse(raw) else { throw badAfter }
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

    /// `limit`: default 100, at most 1000 (a larger number, however many digits, counts as 1000).
    static func limit(_ request: Request) throws -> Int {
        let bad = APIError.invalidInput("Query 'limit' must be a whole number of at least 1 (above 1000 counts as 1000).")
        guard let raw = try query("limit", of: request, else: bad) else { return 100 }
        if let value = Int(raw) {
            guard value >= 1 else { throw bad }
            return min(value, 1000)
        }
        guard raw.allSatisfy(\.isASCIIDigit) else { throw bad }
        return 1000
    }

    /// The value of query parameter `name`, nil when it is absent. Empty (`?limit=`) or given
    /// more than once, it has no one value: `refusal`.
    static func query(_ name: String, of request: Request, else refusal: APIError) throws -> String? {
        let values = request.uri.queryParameters.getAll(name)
        guard let value = values.first else { return nil }
        guard values.count == 1, !value.isEmpty else { throw refusal }
        return value
    }
}
