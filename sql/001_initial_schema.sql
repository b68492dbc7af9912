-- Users, auctions (items) with their rooms, and bids.
-- Money is BIGINT in the smallest unit; ids are BIGINT identities exposed as strings.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name          TEXT        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    password_hash TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One account per address, whatever its case.
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

CREATE TABLE items (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seller_id         BIGINT      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    title             TEXT        NOT NULL,
    description       TEXT        NOT NULL DEFAULT '',
    starting_price    BIGINT      NOT NULL CHECK (starting_price >= 1),
    min_increment     BIGINT      NOT NULL CHECK (min_increment >= 1),
    current_price     BIGINT      NOT NULL,
    highest_bidder_id BIGINT      REFERENCES users (id) ON DELETE RESTRICT,
    bid_count         BIGINT      NOT NULL DEFAULT 0,
    ends_at           TIMESTAMPTZ NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at         TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The closer looks for open auctions past their end.
CREATE INDEX items_open_by_end ON items (ends_at) WHERE status = 'open';

-- Each auction has one realtime room, created with it.
CREATE TABLE rooms (
    id         TEXT        PRIMARY KEY,
    item_id    BIGINT      NOT NULL UNIQUE REFERENCES items (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE bids (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id       BIGINT      NOT NULL REFERENCES items (id) ON DELETE RESTRICT,
    bidder_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    price         BIGINT      NOT NULL CHECK (price >= 1),
    client_bid_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A retried bid (same client id from the same user) is recorded once.
    CONSTRAINT bids_client_bid_unique UNIQUE (bidder_id, client_bid_id)
);
-- "Bids of an item after id X", oldest first.
CREATE INDEX bids_item_after ON bids (item_id, id);
