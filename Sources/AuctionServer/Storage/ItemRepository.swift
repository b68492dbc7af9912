import AuctionCore
import Foundation
import Logging
import PostgresNIO

/// Auctions, their rooms and their bid history in PostgreSQL.
public struct ItemRepository: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    static let itemColumns = """
        SELECT i.id, i.title, i.description, i.starting_price, i.min_increment, i.current_price,
               i.highest_bidder_id, u.name, i.ends_at, i.status, i.seller_id
        FROM items i LEFT JOIN users u ON u.id = i.highest_bidder_id
        """

    typealias ItemRow = (Int64, String, String, Int64, Int64, Int64, Int64?, String?, Date, String, Int64)

    static func item(_ row: ItemRow) -> ItemRecord {
        let (id, title, description, startingPrice, minIncrement, currentPrice, bidderID, bidderName, endsAt, status, sellerID) = row
        return ItemRecord(
            id: String(id),
            roomId: ItemRecord.roomID(for: String(id)),
            title: title,
            description: description,
            startingPrice: startingPrice,
            minIncrement: minIncrement,
            currentPrice: currentPrice,
            highestBidder: bidderID.map { Bidder(id: String($0), name: bidderName ?? "") },
            endsAt: endsAt,
            status: AuctionStatus(rawValue: status) ?? .closed,
            sellerId: String(sellerID)
        )
    }

    /// Open auctions first (soonest end first), then closed ones (most recent first).
    public func list(limit: Int) async throws -> [ItemRecord] {
        let logger = self.logger
        let sql = Self.itemColumns + " ORDER BY (i.status = 'open') DESC, CASE WHEN i.status = 'open' THEN i.ends_at END ASC, i.ends_at DESC, i.id LIMIT "
        return try await database.withConnection { connection in
            var items: [ItemRecord] = []
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql + String(limit)), logger: logger)
            for try await row in rows.decode(ItemRow.self) { items.append(Self.item(row)) }
            return items
        }
    }

    public func find(id: String) async throws -> ItemRecord? {
        guard let key = RecordID.parse(id) else { return nil }
        let logger = self.logger
        return try await database.withConnection { connection in
            try await Self.find(key, on: connection, logger: logger)
        }
    }

    /// The item; with `lockingRow`, its row stays locked until the transaction ends.
    static func find(_ key: Int64, on connection: PostgresConnection, logger: Logger, lockingRow: Bool = false) async throws -> ItemRecord? {
        var query = PostgresQuery(unsafeSQL: itemColumns + " WHERE i.id = $1" + (lockingRow ? " FOR UPDATE OF i" : ""))
        query.binds.append(key)
        for try await row in try await connection.query(query, logger: logger).decode(ItemRow.self) {
            return item(row)
        }
        return nil
    }

    /// Creates the auction and its room together.
    public func create(_ draft: ItemDraft, sellerID: String) async throws -> ItemRecord {
        guard let seller = RecordID.parse(sellerID) else { throw StorageUnavailable(underlying: "bad seller id") }
        let logger = self.logger
        return try await database.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                var newID: Int64?
                let rows = try await connection.query(
                    """
                    INSERT INTO items (seller_id, title, description, starting_price, min_increment, current_price, ends_at)
                    VALUES (\(seller), \(draft.title), \(draft.description), \(draft.startingPrice), \(draft.minIncrement), \(draft.startingPrice), \(draft.endsAt))
                    RETURNING id
                    """,
                    logger: logger
                )
                for try await id in rows.decode(Int64.self) { newID = id }
                guard let newID else { throw StorageUnavailable(underlying: "INSERT returned no row") }
                let room = ItemRecord.roomID(for: String(newID))
                try await connection.query("INSERT INTO rooms (id, item_id) VALUES (\(room), \(newID))", logger: logger)
                try await connection.query("COMMIT", logger: logger)
                guard let item = try await Self.find(newID, on: connection, logger: logger) else {
                    throw StorageUnavailable(underlying: "new item vanished")
                }
                return item
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    static let bidColumns = """
        SELECT b.id, b.item_id, b.price, b.bidder_id, u.name, b.created_at
        FROM bids b JOIN users u ON u.id = b.bidder_id
        """

    typealias BidRow = (Int64, Int64, Int64, Int64, String, Date)

    static func bid(_ row: BidRow) -> BidRecord {
        let (id, itemID, price, bidderID, name, createdAt) = row
        return BidRecord(id: String(id), itemId: String(itemID), price: price, bidder: Bidder(id: String(bidderID), name: name), createdAt: createdAt)
    }

    /// Bids of an item after a bid id (all when nil), oldest first. Ids grow in commit order per
    /// item because bids of one item are written one at a time (see ``BidLedger``).
    public func bids(itemID: String, after: Int64?, limit: Int) async throws -> [BidRecord] {
        guard let key = RecordID.parse(itemID) else { return [] }
        let logger = self.logger
        return try await database.withConnection { connection in
            var bids: [BidRecord] = []
            var query = PostgresQuery(unsafeSQL: Self.bidColumns + " WHERE b.item_id = $1 AND b.id > $2 ORDER BY b.id ASC LIMIT $3")
            query.binds.append(key)
            query.binds.append(after ?? 0)
            query.binds.append(Int64(limit))
            for try await row in try await connection.query(query, logger: logger).decode(BidRow.self) { bids.append(Self.bid(row)) }
            return bids
        }
    }

    /// The last `limit` bids of an item, oldest first.
    public func recentBids(itemID: String, limit: Int) async throws -> [BidRecord] {
        guard let key = RecordID.parse(itemID) else { return [] }
        let logger = self.logger
        return try await database.withConnection { connection in
            var bids: [BidRecord] = []
            var query = PostgresQuery(unsafeSQL: Self.bidColumns + " WHERE b.item_id = $1 ORDER BY b.id DESC LIMIT $2")
            query.binds.append(key)
            query.binds.append(Int64(limit))
            for try await row in try await connection.query(query, logger: logger).decode(BidRow.self) { bids.append(Self.bid(row)) }
            return bids.reversed()
        }
    }

    /// Open auctions whose end has passed.
    public func dueForClosing(limit: Int) async throws -> [Int64] {
        let logger = self.logger
        return try await database.withConnection { connection in
            var ids: [Int64] = []
            let rows = try await connection.query(
                "SELECT id FROM items WHERE status = 'open' AND ends_at <= now() ORDER BY ends_at LIMIT \(Int64(limit))",
                logger: logger
            )
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            return ids
        }
    }
}
