import Foundation
import Logging
import PostgresNIO

/// Idempotent demo data: three users and a few open auctions.
public struct DemoSeed: Sendable {
    public struct Account: Sendable {
        public var email: String
        public var name: String
        public var password: String
    }

    public static let accounts = [
        Account(email: "alice@example.com", name: "Alice", password: "password123"),
        Account(email: "bob@example.com", name: "Bob", password: "password123"),
        Account(email: "carol@example.com", name: "Carol", password: "password123"),
    ]

    static let auctions: [(title: String, description: String, startingPrice: Int64, minIncrement: Int64, hours: Double)] = [
        ("Vintage road bike", "Steel frame, 1984, freshly serviced.", 15_000, 500, 2),
        ("Espresso machine", "Dual boiler, barely used.", 40_000, 1_000, 6),
        ("First-edition novel", "Signed by the author.", 25_000, 250, 24),
    ]

    let database: Database
    let hasher: PasswordHasher
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.hasher = PasswordHasher()
        self.logger = logger
    }

    public func run() async throws {
        var computed: [String] = []
        for account in Self.accounts { computed.append(try await hasher.hash(account.password)) }
        let hashes = computed
        let logger = self.logger
        try await database.withConnection { connection in
            for (account, hash) in zip(Self.accounts, hashes) {
                try await connection.query(
                    "INSERT INTO users (email, name, password_hash) VALUES (\(account.email), \(account.name), \(hash)) ON CONFLICT DO NOTHING",
                    logger: logger
                )
            }
            var sellerID: Int64?
            for try await id in try await connection.query("SELECT id FROM users WHERE lower(email) = 'alice@example.com'", logger: logger).decode(Int64.self) {
                sellerID = id
            }
            guard let sellerID else { return }
            for auction in Self.auctions {
                var exists = false
                for try await _ in try await connection.query(
                    "SELECT id FROM items WHERE seller_id = \(sellerID) AND title = \(auction.title) AND status = 'open'",
                    logger: logger
                ).decode(Int64.self) { exists = true }
                if exists { continue }
                let endsAt = Date().addingTimeInterval(auction.hours * 3600)
                try await connection.query("BEGIN", logger: logger)
                var itemID: Int64?
                for try await id in try await connection.query(
                    """
                    INSERT INTO items (seller_id, title, description, starting_price, min_increment, current_price, ends_at)
                    VALUES (\(sellerID), \(auction.title), \(auction.description), \(auction.startingPrice), \(auction.minIncrement), \(auction.startingPrice), \(endsAt))
                    RETURNING id
                    """,
                    logger: logger
                ).decode(Int64.self) { itemID = id }
                if let itemID {
                    try await connection.query("INSERT INTO rooms (id, item_id) VALUES (\(ItemRecord.roomID(for: String(itemID))), \(itemID))", logger: logger)
                }
                try await connection.query("COMMIT", logger: logger)
            }
        }
        logger.info("demo data ready", metadata: ["users": "\(Self.accounts.map(\.email).joined(separator: ","))"])
    }
}
