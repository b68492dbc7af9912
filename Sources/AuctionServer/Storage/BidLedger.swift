import AuctionCore
import Foundation
import Logging
import PostgresNIO

/// An accepted bid and what it changed.
public struct Placement: Sendable, Equatable {
    public var bid: BidRecord
    /// The item after the bid.
    public var item: ItemRecord
    /// The new end when the bid extended the auction (soft close).
    public var extendedTo: Date?
    /// The same `clientBidId` was accepted before: this is that bid, not a new one.
    public var isReplay: Bool
}

/// An auction that has just closed.
public struct AuctionClosing: Sendable, Equatable {
    public var itemId: String
    public var winner: Bidder?
    public var price: Money
}

/// Where bids are decided and recorded.
///
/// Bids of one item take turns under a PostgreSQL advisory lock keyed by the item id, held from
/// before the transaction until the accepted bid has been handed to `publish`. So the order in
/// which bids are published is the order in which they committed, on every instance, and ids of
/// one item's bids grow in that order.
public struct BidLedger: Sendable {
    let database: Database
    let logger: Logger
    private let turns = ItemTurns()

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    private enum Outcome: Sendable {
        case placed(Placement)
        case rejected(BidRejection)
    }

    /// Decides a bid. `publish` runs for a newly accepted bid after its commit, before the next bid
    /// of the same item is decided. Storage failures become ``BidRejection/unavailable``.
    public func place(
        _ request: BidRequest,
        bidder: Bidder,
        publish: @escaping @Sendable (Placement) async -> Void
    ) async throws(BidRejection) -> Placement {
        guard let itemKey = RecordID.parse(request.itemId) else { throw .itemNotFound }
        guard let bidderKey = RecordID.parse(bidder.id) else { throw .unauthorized }
        let logger = self.logger
        let outcome: Outcome
        do {
            if let rejection = try await precheck(request, itemKey: itemKey, bidderKey: bidderKey) {
                throw rejection
            }
            outcome = try await turns.withTurn(itemKey) {
                try await database.withConnection { connection in
                    try await Self.locked(itemKey, on: connection, logger: logger) {
                        let outcome = try await Self.transact(request, itemKey: itemKey, bidder: bidder, bidderKey: bidderKey, on: connection, logger: logger)
                        if case .placed(let placement) = outcome, !placement.isReplay {
                            await publish(placement)
                        }
                        return outcome
                    }
                }
            }
        } catch let rejection as BidRejection {
            throw rejection
        } catch {
            logger.warning("bid not recorded: storage unavailable", metadata: ["error": "\(error)"])
            throw .unavailable
        }
        switch outcome {
        case .placed(let placement): return placement
        case .rejected(let rejection): throw rejection
        }
    }

    /// Closes the auction if it is open and past its end; exactly one caller across all instances
    /// gets the closing, and `publish` runs for it under the item's lock.
    public func closeIfDue(
        itemKey: Int64,
        publish: @escaping @Sendable (AuctionClosing) async -> Void
    ) async throws -> AuctionClosing? {
        let logger = self.logger
        return try await database.withConnection { connection in
            try await Self.locked(itemKey, on: connection, logger: logger) {
                let rows = try await connection.query(
                    """
                    UPDATE items SET status = 'closed', closed_at = now()
                    WHERE id = \(itemKey) AND status = 'open' AND ends_at <= now()
                    RETURNING current_price, highest_bidder_id, (SELECT name FROM users WHERE id = items.highest_bidder_id)
                    """,
                    logger: logger
                )
                var closing: AuctionClosing?
                for try await (price, bidderID, name) in rows.decode((Int64, Int64?, String?).self) {
                    closing = AuctionClosing(
                        itemId: String(itemKey),
                        winner: bidderID.map { Bidder(id: String($0), name: name ?? "") },
                        price: price
                    )
                }
                if let closing { await publish(closing) }
                return closing
            }
        }
    }

    /// Refuses, without any lock, a bid that cannot win: the current price only rises while an
    /// auction is open, so a bid below the minimum now stays below it. Retries of an accepted bid
    /// (a known clientBidId) always take the full path to get their first answer back.
    private func precheck(_ request: BidRequest, itemKey: Int64, bidderKey: Int64) async throws -> BidRejection? {
        let logger = self.logger
        return try await database.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT i.starting_price, i.min_increment, i.current_price, i.highest_bidder_id, i.ends_at, i.status, now(),
                       EXISTS (SELECT 1 FROM bids b WHERE b.bidder_id = \(bidderKey) AND b.client_bid_id = \(request.clientBidId))
                FROM items i WHERE i.id = \(itemKey)
                """,
                logger: logger
            )
            for try await (starting, increment, current, leader, endsAt, status, now, isRetry) in rows.decode(
                (Int64, Int64, Int64, Int64?, Date, String, Date, Bool).self
            ) {
                if isRetry { return nil }
                let item = Self.auction(request.itemId, starting, increment, current, leader, nil, endsAt, status)
                if case .failure(let rejection) = BidRules.evaluate(price: request.price, for: item, at: now) { return rejection }
                return nil
            }
            return .itemNotFound
        }
    }

    // MARK: Internals

    /// The rules' view of an `items` row, for the lock-free precheck and the locked decision.
    private static func auction(
        _ id: String,
        _ starting: Int64,
        _ increment: Int64,
        _ current: Int64,
        _ leaderID: Int64?,
        _ leaderName: String?,
        _ endsAt: Date,
        _ status: String
    ) -> AuctionItem {
        AuctionItem(
            id: id,
            startingPrice: starting,
            minIncrement: increment,
            currentPrice: current,
            highestBidder: leaderID.map { Bidder(id: String($0), name: leaderName ?? "") },
            endsAt: endsAt,
            status: AuctionStatus(rawValue: status) ?? .closed
        )
    }

    private static func locked<Result: Sendable>(
        _ itemKey: Int64,
        on connection: PostgresConnection,
        logger: Logger,
        _ body: () async throws -> Result
    ) async throws -> Result {
        try await connection.query("SELECT pg_advisory_lock(\(itemKey))", logger: logger)
        do {
            let result = try await body()
            try await connection.query("SELECT pg_advisory_unlock(\(itemKey))", logger: logger)
            return result
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(itemKey))", logger: logger)
            throw error
        }
    }

    private static func transact(
        _ request: BidRequest,
        itemKey: Int64,
        bidder: Bidder,
        bidderKey: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Outcome {
        try await connection.query("BEGIN", logger: logger)
        do {
            let outcome = try await decide(request, itemKey: itemKey, bidder: bidder, bidderKey: bidderKey, on: connection, logger: logger)
            switch outcome {
            case .placed(let placement) where !placement.isReplay:
                try await connection.query("COMMIT", logger: logger)
            default:
                try await connection.query("ROLLBACK", logger: logger)
            }
            return outcome
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private static func decide(
        _ request: BidRequest,
        itemKey: Int64,
        bidder: Bidder,
        bidderKey: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Outcome {
        // A retry of an accepted bid gets that bid back.
        if let clientBidID = request.clientBidId {
            var query = PostgresQuery(unsafeSQL: ItemRepository.bidColumns + " WHERE b.bidder_id = $1 AND b.client_bid_id = $2")
            query.binds.append(bidderKey)
            query.binds.append(clientBidID)
            for try await row in try await connection.query(query, logger: logger).decode(ItemRepository.BidRow.self) {
                let bid = ItemRepository.bid(row)
                guard bid.itemId == request.itemId else {
                    return .rejected(.invalidPayload("clientBidId was already used for another auction"))
                }
                guard let item = try await ItemRepository.find(itemKey, on: connection, logger: logger) else {
                    return .rejected(.itemNotFound)
                }
                return .placed(Placement(bid: bid, item: item, extendedTo: nil, isReplay: true))
            }
        }

        // Lock the row and read it with the database's clock, shared by every instance.
        var select = PostgresQuery(
            unsafeSQL: """
                SELECT i.starting_price, i.min_increment, i.current_price, i.highest_bidder_id, u.name, i.ends_at, i.status, now()
                FROM items i LEFT JOIN users u ON u.id = i.highest_bidder_id
                WHERE i.id = $1 FOR UPDATE OF i
                """
        )
        select.binds.append(itemKey)
        var found: (AuctionItem, Date)?
        let rows = try await connection.query(select, logger: logger)
        for try await (starting, increment, current, leaderID, leaderName, endsAt, status, now) in rows.decode(
            (Int64, Int64, Int64, Int64?, String?, Date, String, Date).self
        ) {
            found = (Self.auction(request.itemId, starting, increment, current, leaderID, leaderName, endsAt, status), now)
        }
        guard let (auction, now) = found else { return .rejected(.itemNotFound) }
        if case .failure(let rejection) = BidRules.evaluate(price: request.price, for: auction, at: now) {
            return .rejected(rejection)
        }
        let extendedTo = SoftClose.extendedEnd(endsAt: auction.endsAt, acceptedAt: now)
        let endsAt = extendedTo ?? auction.endsAt

        // The same conditions again in SQL: the row is locked, so this cannot fail unless the
        // rules above are wrong; an empty result is treated as a refusal, never as success.
        let updated = try await connection.query(
            """
            UPDATE items SET current_price = \(request.price), highest_bidder_id = \(bidderKey),
                   bid_count = bid_count + 1, ends_at = \(endsAt)
            WHERE id = \(itemKey) AND status = 'open' AND ends_at > \(now)
              AND \(request.price) >= CASE WHEN highest_bidder_id IS NULL THEN starting_price ELSE current_price + min_increment END
            RETURNING id
            """,
            logger: logger
        )
        var changed = false
        for try await _ in updated.decode(Int64.self) { changed = true }
        guard changed else { return .rejected(.bidTooLow(minimum: BidRules.minimumNextPrice(for: auction))) }

        var bidID: Int64?
        do {
            let inserted = try await connection.query(
                """
                INSERT INTO bids (item_id, bidder_id, price, client_bid_id, created_at)
                VALUES (\(itemKey), \(bidderKey), \(request.price), \(request.clientBidId), \(now))
                RETURNING id
                """,
                logger: logger
            )
            for try await id in inserted.decode(Int64.self) { bidID = id }
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // The same clientBidId raced in on another auction's lock.
            return .rejected(.invalidPayload("clientBidId was already used"))
        }
        guard let bidID else { throw StorageUnavailable(underlying: "INSERT returned no row") }

        let bid = BidRecord(id: String(bidID), itemId: request.itemId, price: request.price, bidder: bidder, createdAt: now)
        guard var item = try await ItemRepository.find(itemKey, on: connection, logger: logger) else {
            return .rejected(.itemNotFound)
        }
        item.highestBidder = bidder
        return .placed(Placement(bid: bid, item: item, extendedTo: extendedTo, isReplay: false))
    }
}
