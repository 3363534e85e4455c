-- Version 3: the HTTP API's bearer tokens, and who wrote what through it.

-- The secret is never stored, only its SHA-256; the id finds the row.
CREATE TABLE tokens (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    scopes        text NOT NULL,  -- space-separated
    secret_sha256 text NOT NULL,
    created_at    double precision NOT NULL,
    revoked_at    double precision
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

-- Every write through the API (enqueue, replay, pause, resume) and the token that made it.
CREATE TABLE operations (
    id      bigserial PRIMARY KEY,
    at      double precision NOT NULL,
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL
);
