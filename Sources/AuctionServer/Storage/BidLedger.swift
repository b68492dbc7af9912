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

/// Where bids are decided and recorded, in batches.
///
/// Bids of one item queue in this process while a batch of that item is being committed; when it
/// is done, everything queued is the next batch. A batch takes the item's PostgreSQL advisory
/// lock (one writer per item across all instances), reads the item `FOR UPDATE` — the committed
/// state, whoever committed it, so no decision is made against a stale price, and a restarted
/// instance needs nothing rebuilt — and the clientBidIds it already holds, then decides every bid
/// in arrival order in memory (``BidBatch/decide(item:bids:stored:)``): losers are refused
/// without a write, replays get their first answer, winners are inserted in one transaction.
/// After the commit, the accepted bids are handed to their `publish` in order, still under the
/// lock, and only then answered. So a bid is acked `ok` only once stored, the order in which bids
/// are published is the order in which they committed on every instance, and ids of one item's
/// bids grow in that order. A batch whose transaction fails answers `unavailable` for every bid in
/// it and changes nothing.
public struct BidLedger: Sendable {
    /// More would make one transaction, and the wait of the bids behind it, long.
    static let batchLimit = 500

    let database: Database
    let logger: Logger
    /// Told how long each batch held its connection, lock to unlock (for metrics).
    let onBatch: (@Sendable (Duration) -> Void)?
    private let queues = BidQueues<WaitingBid>()

    public init(database: Database, logger: Logger, onBatch: (@Sendable (Duration) -> Void)? = nil) {
        self.database = database
        self.logger = logger
        self.onBatch = onBatch
    }

    /// A bid in its item's queue, with the means to answer it.
    struct WaitingBid: Sendable {
        var request: BidRequest
        var bidder: Bidder
        var receivedAt: Date
        var publish: @Sendable (Placement) async -> Void
        var answer: CheckedContinuation<Result<Placement, BidRejection>, Never>
    }

    /// Decides a bid received at `receivedAt` (the time the rules judge it at). `publish` runs for
    /// a newly accepted bid after its commit, before the next batch of the same item is decided.
    /// Storage failures become ``BidRejection/unavailable``.
    public func place(
        _ request: BidRequest,
        bidder: Bidder,
        receivedAt: Date = Date(),
        publish: @escaping @Sendable (Placement) async -> Void
    ) async throws(BidRejection) -> Placement {
        guard let itemKey = RecordID.parse(request.itemId) else { throw .itemNotFound }
        guard RecordID.parse(bidder.id) != nil else { throw .unauthorized }
        let result = await withCheckedContinuation { continuation in
            let waiting = WaitingBid(request: request, bidder: bidder, receivedAt: receivedAt, publish: publish, answer: continuation)
            if queues.enqueue(waiting, item: itemKey) {
                Task { await self.drain(itemKey) }
            }
        }
        return try result.get()
    }

    /// Runs the item's batches one after the other until its queue is empty.
    private func drain(_ itemKey: Int64) async {
        while let queued = queues.nextBatch(item: itemKey, limit: Self.batchLimit) {
            // Queue order is when each bid's connection got to it; the rules go by when it arrived.
            let batch = queued.sorted { $0.receivedAt < $1.receivedAt }
            let answers = await decide(batch, itemKey: itemKey)
            for (waiting, answer) in zip(batch, answers) { waiting.answer.resume(returning: answer) }
        }
    }

    private func decide(_ batch: [WaitingBid], itemKey: Int64) async -> [Result<Placement, BidRejection>] {
        let logger = self.logger
        let onBatch = self.onBatch
        do {
            return try await database.withConnection { connection in
                let started = ContinuousClock.now
                defer { onBatch?(ContinuousClock.now - started) }
                return try await Self.locked(itemKey, on: connection, logger: logger) {
                    do {
                        return try await Self.commit(batch, itemKey: itemKey, on: connection, logger: logger)
                    } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                        // A clientBidId of this batch was stored meanwhile by a batch of another
                        // item: decided again, it is found and refused.
                        return try await Self.commit(batch, itemKey: itemKey, on: connection, logger: logger)
                    }
                }
            }
        } catch {
            logger.warning("bids not recorded: storage unavailable", metadata: ["bids": "\(batch.count)", "error": "\(error)"])
            return batch.map { _ in .failure(.unavailable) }
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

    // MARK: Internals

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

    /// One batch in one transaction, under the item's lock: read, decide, write the winners,
    /// commit, publish. Returns one answer per bid, in the batch's order.
    private static func commit(
        _ batch: [WaitingBid],
        itemKey: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [Result<Placement, BidRejection>] {
        try await connection.query("BEGIN", logger: logger)
        do {
            let answers = try await decideAndWrite(batch, itemKey: itemKey, on: connection, logger: logger)
            if answers.published.isEmpty {
                try await connection.query("ROLLBACK", logger: logger)
            } else {
                try await connection.query("COMMIT", logger: logger)
                for (waiting, placement) in answers.published { await waiting.publish(placement) }
            }
            return answers.results
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private struct BatchAnswers {
        var results: [Result<Placement, BidRejection>]
        /// The new bids, in acceptance order, with the bid whose `publish` announces each.
        var published: [(WaitingBid, Placement)]
    }

    private static func decideAndWrite(
        _ batch: [WaitingBid],
        itemKey: Int64,
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> BatchAnswers {
        let itemID = String(itemKey)
        // The committed state, with the database's lock; read fresh for every batch.
        guard var record = try await ItemRepository.find(itemKey, on: connection, logger: logger, lockingRow: true) else {
            return BatchAnswers(results: batch.map { _ in .failure(.itemNotFound) }, published: [])
        }
        let auction = record.auction

        // clientBidIds of this batch already stored: replays here, refusals when on another item.
        let stored = try await storedBids(of: batch, on: connection, logger: logger)
        var results = [Result<Placement, BidRejection>?](repeating: nil, count: batch.count)
        var queued: [QueuedBid] = []
        var positions: [Int] = []
        for (position, waiting) in batch.enumerated() {
            if let key = waiting.key, let bid = stored[key], bid.itemId != itemID {
                results[position] = .failure(.invalidPayload("clientBidId was already used for another auction"))
                continue
            }
            queued.append(QueuedBid(bidder: waiting.bidder, price: waiting.request.price, clientBidId: waiting.request.clientBidId, receivedAt: waiting.receivedAt))
            positions.append(position)
        }
        let decision = BidBatch.decide(item: auction, bids: queued, stored: Set(stored.filter { $0.value.itemId == itemID }.keys))

        // The winners, in order; ids come from one sequence, so they grow in this order too.
        var placements: [Placement] = []
        for accepted in decision.accepted {
            guard let bidderKey = RecordID.parse(accepted.bid.bidder.id) else { throw StorageUnavailable(underlying: "bad bidder id") }
            var bidID: Int64?
            let inserted = try await connection.query(
                """
                INSERT INTO bids (item_id, bidder_id, price, client_bid_id, created_at)
                VALUES (\(itemKey), \(bidderKey), \(accepted.bid.price), \(accepted.bid.clientBidId), \(accepted.bid.receivedAt))
                RETURNING id
                """,
                logger: logger
            )
            for try await id in inserted.decode(Int64.self) { bidID = id }
            guard let bidID else { throw StorageUnavailable(underlying: "INSERT returned no row") }
            let bid = BidRecord(id: String(bidID), itemId: itemID, price: accepted.bid.price, bidder: accepted.bid.bidder, createdAt: accepted.bid.receivedAt)
            var item = record
            item.currentPrice = accepted.item.currentPrice
            item.highestBidder = accepted.item.highestBidder
            item.endsAt = accepted.item.endsAt
            placements.append(Placement(bid: bid, item: item, extendedTo: accepted.extendedTo, isReplay: false))
        }
        if let last = decision.accepted.last, let leaderKey = RecordID.parse(last.item.highestBidder?.id) {
            // The rules decided; the row is locked, so this changes exactly one row.
            let updated = try await connection.query(
                """
                UPDATE items SET current_price = \(last.item.currentPrice), highest_bidder_id = \(leaderKey),
                       bid_count = bid_count + \(Int64(decision.accepted.count)), ends_at = \(last.item.endsAt)
                WHERE id = \(itemKey) AND status = 'open'
                RETURNING id
                """,
                logger: logger
            )
            var changed = false
            for try await _ in updated.decode(Int64.self) { changed = true }
            guard changed else { throw StorageUnavailable(underlying: "item \(itemKey) changed under its lock") }
            record = placements[placements.count - 1].item
        }

        var published: [(WaitingBid, Placement)] = []
        for (index, verdict) in decision.verdicts.enumerated() {
            let position = positions[index]
            switch verdict {
            case .accepted(let accepted):
                results[position] = .success(placements[accepted])
                published.append((batch[position], placements[accepted]))
            case .replayOfAccepted(let accepted):
                var replay = placements[accepted]
                replay.isReplay = true
                replay.extendedTo = nil
                results[position] = .success(replay)
            case .replayOfStored(let key):
                guard let bid = stored[key] else { throw StorageUnavailable(underlying: "replayed bid vanished") }
                results[position] = .success(Placement(bid: bid, item: record, extendedTo: nil, isReplay: true))
            case .refused(let rejection):
                results[position] = .failure(rejection)
            }
        }
        return BatchAnswers(results: results.map { $0 ?? .failure(.unavailable) }, published: published)
    }

    /// The bids already stored under the clientBidIds of this batch, by bidder and clientBidId.
    private static func storedBids(
        of batch: [WaitingBid],
        on connection: PostgresConnection,
        logger: Logger
    ) async throws -> [ClientBidKey: BidRecord] {
        let keys = batch.compactMap(\.key)
        guard !keys.isEmpty else { return [:] }
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT b.id, b.item_id, b.price, b.bidder_id, u.name, b.created_at, b.client_bid_id
                FROM bids b JOIN users u ON u.id = b.bidder_id
                WHERE (b.bidder_id, b.client_bid_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
                """
        )
        query.binds.append(keys.map { RecordID.parse($0.bidderId) ?? 0 })
        query.binds.append(keys.map(\.clientBidId))
        var found: [ClientBidKey: BidRecord] = [:]
        for try await (id, itemID, price, bidderID, name, createdAt, clientBidID) in try await connection.query(query, logger: logger)
            .decode((Int64, Int64, Int64, Int64, String, Date, String).self)
        {
            let bid = ItemRepository.bid((id, itemID, price, bidderID, name, createdAt))
            found[ClientBidKey(bidderId: bid.bidder.id, clientBidId: clientBidID)] = bid
        }
        return found
    }
}

extension BidLedger.WaitingBid {
    var key: ClientBidKey? {
        request.clientBidId.map { ClientBidKey(bidderId: bidder.id, clientBidId: $0) }
    }
}
