-- Version 1: the SQLite ledger. Times are UTC seconds since the epoch (REAL).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notices (
    pk          INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    category    TEXT    NOT NULL,
    notice_type TEXT    NOT NULL,
    region_code TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    digest      TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    publish_at  REAL    NOT NULL,
    publish_day TEXT    NOT NULL,  -- YYYY-MM-DD in Asia/Shanghai: the day it counts in
    accepted_at REAL    NOT NULL,
    UNIQUE (id, version)
);
CREATE INDEX IF NOT EXISTS notices_accepted ON notices (accepted_at);

CREATE TABLE IF NOT EXISTS deliveries (
    id               INTEGER PRIMARY KEY,
    notice_pk        INTEGER NOT NULL REFERENCES notices (pk),
    channel          TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    state            TEXT    NOT NULL
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    tries            INTEGER NOT NULL DEFAULT 0,
    cycle_started_at REAL,
    -- for pending: when the next attempt is due; for in_flight: when the lease expires
    next_attempt_at  REAL    NOT NULL,
    lease_owner      TEXT,
    fence            INTEGER NOT NULL DEFAULT 0,
    remote_id        TEXT,
    remote_url       TEXT,
    last_error       TEXT,
    updated_at       REAL    NOT NULL,
    UNIQUE (notice_pk, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_due
    ON deliveries (channel, next_attempt_at) WHERE state IN ('pending', 'in_flight');
-- (channel, state) rows come out in id order: a dashboard's page of a channel's failures.
CREATE INDEX IF NOT EXISTS deliveries_channel_state ON deliveries (channel, state);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state);
-- The next due time, whatever the backlog: the first entry of a small index.
CREATE INDEX IF NOT EXISTS deliveries_next
    ON deliveries (next_attempt_at) WHERE state IN ('pending', 'in_flight');

CREATE TABLE IF NOT EXISTS attempts (
    id             INTEGER PRIMARY KEY,
    delivery_id    INTEGER NOT NULL REFERENCES deliveries (id),
    number         INTEGER NOT NULL,
    worker         TEXT,
    fence          INTEGER NOT NULL,
    started_at     REAL    NOT NULL,
    finished_at    REAL    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('delivered', 'transient', 'permanent')),
    error_class    TEXT,
    error_message  TEXT,
    status         TEXT,
    remote_id      TEXT,
    remote_url     TEXT,
    payload_sha256 TEXT,
    UNIQUE (delivery_id, number)
);
CREATE INDEX IF NOT EXISTS attempts_outcome ON attempts (outcome, id);
CREATE INDEX IF NOT EXISTS attempts_started ON attempts (started_at);

-- The ledger is append-only: attempts are never changed or removed.
CREATE TRIGGER IF NOT EXISTS attempts_no_update BEFORE UPDATE ON attempts
BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS attempts_no_delete BEFORE DELETE ON attempts
BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;

-- What each channel's circuit breaker last said, for status and dashboards.
CREATE TABLE IF NOT EXISTS circuits (
    channel    TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures   INTEGER NOT NULL,
    reopens_at REAL,
    worker     TEXT,
    updated_at REAL NOT NULL
);

-- Running counts for the yearly report, kept as notices are accepted and delivered,
-- so a year's figures never scan the ledger. channel '' counts the notices themselves.
CREATE TABLE IF NOT EXISTS tallies (
    day       TEXT    NOT NULL,
    category  TEXT    NOT NULL,
    channel   TEXT    NOT NULL,
    routed    INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, category, channel)
) WITHOUT ROWID;
