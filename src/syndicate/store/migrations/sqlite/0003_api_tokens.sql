-- Version 3: the HTTP API's bearer tokens, and who wrote what through it.

-- The secret is never stored, only its SHA-256; the id finds the row.
CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,  -- space-separated
    secret_sha256 TEXT NOT NULL,
    created_at    REAL NOT NULL,
    revoked_at    REAL
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

-- Every write through the API (enqueue, replay, pause, resume) and the token that made it.
CREATE TABLE operations (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL
);
