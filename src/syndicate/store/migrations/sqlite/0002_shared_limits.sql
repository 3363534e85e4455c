-- Version 2: a channel's limits are kept in the ledger, so every worker sharing it obeys them.

-- The rate limit: when the channel's next delivery may start. A worker books
-- a start by moving this on by one interval, in one statement.
CREATE TABLE channel_pace (
    channel    TEXT PRIMARY KEY,
    next_start REAL NOT NULL
);

-- A half-open circuit lets one probe through, held until this time (then another may probe).
ALTER TABLE circuits ADD COLUMN probe_until REAL;
