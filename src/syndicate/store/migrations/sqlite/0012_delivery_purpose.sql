-- Version 12: a notice's life after its first publication. A delivery has a purpose
-- (publish, withdrawal, expiry), one of each per notice version and channel; a pending
-- delivery overtaken by a newer version is superseded, one of a withdrawn notice is
-- cancelled; withdrawals are recorded. SQLite changes a CHECK or UNIQUE constraint only
-- by building the table anew: the rows keep their ids, the indexes their names, and the
-- attempts' references are checked before this transaction commits (see SqliteStore).

CREATE TABLE deliveries_v8 (
    id               INTEGER PRIMARY KEY,
    notice_pk        INTEGER NOT NULL REFERENCES notices (pk),
    channel          TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    state            TEXT    NOT NULL
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed', 'dead',
                         'superseded', 'cancelled')),
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
    purpose          TEXT    NOT NULL DEFAULT 'publish'
        CHECK (purpose IN ('publish', 'withdrawal', 'expiry')),
    UNIQUE (notice_pk, channel, purpose)
);
INSERT INTO deliveries_v8 (id, notice_pk, channel, idempotency_key, state, attempts, tries,
                           cycle_started_at, next_attempt_at, lease_owner, fence, remote_id,
                           remote_url, last_error, updated_at, purpose)
SELECT id, notice_pk, channel, idempotency_key, state, attempts, tries, cycle_started_at,
       next_attempt_at, lease_owner, fence, remote_id, remote_url, last_error, updated_at,
       'publish'
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v8 RENAME TO deliveries;

CREATE INDEX deliveries_due
    ON deliveries (channel, next_attempt_at) WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_channel_state ON deliveries (channel, state);
-- counted from the index alone (version 11)
CREATE INDEX deliveries_state ON deliveries (state, channel, notice_pk);
CREATE INDEX deliveries_next
    ON deliveries (next_attempt_at) WHERE state IN ('pending', 'in_flight');
-- Withdrawals and expiries are few beside publications: counted from here, not the tallies.
CREATE INDEX deliveries_follow_up ON deliveries (purpose, state) WHERE purpose <> 'publish';

-- A notice taken back, all its versions: no version is accepted after it.
CREATE TABLE withdrawals (
    id        INTEGER PRIMARY KEY,
    notice_id TEXT    NOT NULL UNIQUE,
    version   INTEGER NOT NULL,  -- the newest version when it was withdrawn
    reason    TEXT    NOT NULL,
    at        REAL    NOT NULL,
    by        TEXT
);
