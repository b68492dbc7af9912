import Foundation
import NIOHTTP1
import SocketIO

/// The REST calls of the auction service (see the contract) that the auction scenario makes
/// before its sockets open: accounts, access tokens, and the auction they bid on.
struct AuctionAPI: Sendable {
    let http: JSONHTTPClient

    /// A signed-in bench user; its token is shared by all of its tabs.
    struct Account: Sendable {
        var index: Int
        var userID: String
        var name: String
        var token: String
    }

    /// What the scenario needs to know about the auction.
    struct Auction: Sendable {
        var id: String
        var currentPrice: Int64
        var minIncrement: Int64
        var status: String
    }

    enum LoginOutcome: Sendable {
        case signedIn(Account)
        /// 429: try again after this many seconds (the server's `Retry-After`, when it sends one).
        case rateLimited(retryAfter: Double?)
    }

    struct UnexpectedAnswer: Error, CustomStringConvertible {
        var request: String
        var response: JSONHTTPClient.Response

        var description: String {
            "\(request) answered \(response.status.code) \(response.errorCode ?? ""): \(response.text.prefix(200))"
        }
    }

    /// Creates the account; an address that is already registered (409 EMAIL_TAKEN) is fine.
    /// Returns true when the account is new.
    func register(email: String, name: String, password: String, at address: ServerAddress) async throws -> Bool {
        let response = try await http.send(
            .POST, "/auth/register", to: address,
            json: ["email": .string(email), "name": .string(name), "password": .string(password)]
        )
        switch (response.status.code, response.errorCode) {
        case (201, _): return true
        case (409, "EMAIL_TAKEN"?): return false
        default: throw UnexpectedAnswer(request: "POST /auth/register \(email)", response: response)
        }
    }

    func login(index: Int, email: String, password: String, at address: ServerAddress, from source: String?) async throws -> LoginOutcome {
        let response = try await http.send(
            .POST, "/auth/login", to: address,
            json: ["email": .string(email), "password": .string(password)],
            from: source
        )
        if response.status == .tooManyRequests {
            return .rateLimited(retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
        }
        guard response.status == .ok, let token = response.json?["accessToken"]?.stringValue,
            let user = response.json?["user"], let userID = user["id"]?.stringValue
        else {
            throw UnexpectedAnswer(request: "POST /auth/login \(email)", response: response)
        }
        return .signedIn(Account(index: index, userID: userID, name: user["name"]?.stringValue ?? "", token: token))
    }

    /// Opens an auction lasting an hour, so neither the close nor the soft-close extension
    /// happens during a run.
    func createAuction(title: String, startingPrice: Int64, minIncrement: Int64, token: String, at address: ServerAddress) async throws -> Auction {
        let endsAt = Date().addingTimeInterval(3600)
        let response = try await http.send(
            .POST, "/items", to: address,
            json: [
                "title": .string(title),
                "description": "Created by auction-bench; safe to ignore.",
                "startingPrice": .number(Double(startingPrice)),
                "minIncrement": .number(Double(minIncrement)),
                "endsAt": .string(ResultFile.timestamp(endsAt)),
            ],
            bearer: token
        )
        guard response.status == .created, let json = response.json, let auction = Self.auction(json) else {
            throw UnexpectedAnswer(request: "POST /items", response: response)
        }
        return auction
    }

    func auction(id: String, at address: ServerAddress) async throws -> Auction {
        let response = try await http.send(.GET, "/items/\(id)", to: address)
        guard response.status == .ok, let json = response.json, let auction = Self.auction(json) else {
            throw UnexpectedAnswer(request: "GET /items/\(id)", response: response)
        }
        return auction
    }

    static func auction(_ item: JSONValue) -> Auction? {
        guard let id = item["id"]?.stringValue, let price = item["currentPrice"]?.integerValue,
            let increment = item["minIncrement"]?.integerValue
        else { return nil }
        return Auction(id: id, currentPrice: price, minIncrement: increment, status: item["status"]?.stringValue ?? "")
    }
}
