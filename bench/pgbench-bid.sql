-- One accepted bid, statement for statement as the service's bid path runs it
-- (Sources/AuctionServer/Storage/BidLedger.swift: place → locked → transact → decide), each
-- statement its own round trip, so pgbench measures what PostgreSQL alone allows on one hot
-- auction. Every transaction is a winning bid: the price is read under the row lock and the bid
-- is one increment above it, so prices increase strictly. Losing bids (BID_TOO_LOW) take the same
-- lock but stop after the SELECT … FOR UPDATE and roll back; they are not modelled here.
--
-- Variables (pgbench -D): item = the auction's id; first_user and users = the bidders are
-- users first_user … first_user + users - 1. Run with the default simple query protocol.
--   pgbench -n -c 8 -T 20 -f bench/pgbench-bid.sql -D item=1 -D first_user=1 -D users=8 DB

\set bidder :first_user + random(0, :users - 1)
\set client_bid random(1, 9000000000000000000)

-- Bids of one item take turns under an advisory lock keyed by the item id.
SELECT pg_advisory_lock(:item);
BEGIN;
-- Idempotency: a retried clientBidId gets its earlier bid back (never found here: ids are random).
SELECT b.id, b.item_id, b.price, b.bidder_id, u.name, b.created_at
FROM bids b JOIN users u ON u.id = b.bidder_id
WHERE b.bidder_id = :bidder AND b.client_bid_id = 'pgbench-' || :client_bid;
-- The row, locked, with the database's clock; the service decides on these values. The next
-- price is computed here so the UPDATE below gets a literal, as the service sends it.
SELECT i.starting_price, i.min_increment, i.current_price, i.highest_bidder_id, u.name, i.ends_at, i.status,
       extract(epoch FROM now()) AS now_epoch,
       CASE WHEN i.highest_bidder_id IS NULL THEN i.starting_price ELSE i.current_price + i.min_increment END AS price
FROM items i LEFT JOIN users u ON u.id = i.highest_bidder_id
WHERE i.id = :item FOR UPDATE OF i \gset bid_
-- The same conditions again in SQL (the service treats an empty result as a refusal).
UPDATE items SET current_price = :bid_price, highest_bidder_id = :bidder,
       bid_count = bid_count + 1, ends_at = ends_at
WHERE id = :item AND status = 'open' AND ends_at > to_timestamp(:bid_now_epoch)
  AND :bid_price >= CASE WHEN highest_bidder_id IS NULL THEN starting_price ELSE current_price + min_increment END
RETURNING id;
INSERT INTO bids (item_id, bidder_id, price, client_bid_id, created_at)
VALUES (:item, :bidder, :bid_price, 'pgbench-' || :client_bid, to_timestamp(:bid_now_epoch))
RETURNING id;
-- The item re-read that goes into the ack and the broadcast (ItemRepository.find).
SELECT i.id, i.title, i.description, i.starting_price, i.min_increment, i.current_price,
       i.highest_bidder_id, u.name, i.ends_at, i.status, i.seller_id
FROM items i LEFT JOIN users u ON u.id = i.highest_bidder_id
WHERE i.id = :item;
COMMIT;
SELECT pg_advisory_unlock(:item);
