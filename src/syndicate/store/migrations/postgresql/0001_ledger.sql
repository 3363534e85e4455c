-- Version 1: the PostgreSQL ledger, the same tables as SQLite's. Times are UTC
-- seconds since the epoch (double precision). Plain SQL on purpose: no
-- extension, nothing a PostgreSQL-compatible server could lack but plpgsql.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE notices (
    pk          bigserial PRIMARY KEY,
    id          text    NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    category    text    NOT NULL,
    notice_type text    NOT NULL,
    region_code text    NOT NULL,
    title       text    NOT NULL,
    digest      text    NOT NULL,
    content     text    NOT NULL,
    publish_at  double precision NOT NULL,
    publish_day text    NOT NULL,  -- YYYY-MM-DD in Asia/Shanghai: the day it counts in
    accepted_at double precision NOT NULL,
    UNIQUE (id, version)
);
CREATE INDEX notices_accepted ON notices (accepted_at);

CREATE TABLE deliveries (
    id               bigserial PRIMARY KEY,
    notice_pk        bigint  NOT NULL REFERENCES notices (pk),
    channel          text    NOT NULL,
    idempotency_key  text    NOT NULL UNIQUE,
    state            text    NOT NULL
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'failed', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    tries            integer NOT NULL DEFAULT 0,
    cycle_started_at double precision,
    -- for pending: when the next attempt is due; for in_flight: when the lease expires
    next_attempt_at  double precision NOT NULL,
    lease_owner      text,
    fence            bigint  NOT NULL DEFAULT 0,
    remote_id        text,
    remote_url       text,
    last_error       text,
    updated_at       double precision NOT NULL,
    UNIQUE (notice_pk, channel)
);
CREATE INDEX deliveries_due
    ON deliveries (channel, next_attempt_at) WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_channel_state ON deliveries (channel, state, id);
CREATE INDEX deliveries_state ON deliveries (state);
CREATE INDEX deliveries_next
    ON deliveries (next_attempt_at) WHERE state IN ('pending', 'in_flight');

CREATE TABLE attempts (
    id             bigserial PRIMARY KEY,
    delivery_id    bigint  NOT NULL REFERENCES deliveries (id),
    number         integer NOT NULL,
    worker         text,
    fence          bigint  NOT NULL,
    started_at     double precision NOT NULL,
    finished_at    double precision NOT NULL,
    outcome        text    NOT NULL CHECK (outcome IN ('delivered', 'transient', 'permanent')),
    error_class    text,
    error_message  text,
    status         text,
    remote_id      text,
    remote_url     text,
    payload_sha256 text,
    UNIQUE (delivery_id, number)
);
CREATE INDEX attempts_outcome ON attempts (outcome, id);
CREATE INDEX attempts_started ON attempts (started_at);

-- The ledger is append-only: attempts are never changed or removed.
CREATE FUNCTION syndicate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attempts are append-only';
END
$$;
CREATE TRIGGER attempts_append_only BEFORE UPDATE OR DELETE ON attempts
    FOR EACH ROW EXECUTE PROCEDURE syndicate_append_only();

CREATE TABLE circuits (
    channel    text PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures   integer NOT NULL,
    reopens_at double precision,
    worker     text,
    updated_at double precision NOT NULL
);

-- Running counts for the yearly report; channel '' counts the notices themselves.
CREATE TABLE tallies (
    day       text    NOT NULL,
    category  text    NOT NULL,
    channel   text    NOT NULL,
    routed    integer NOT NULL DEFAULT 0,
    delivered integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, category, channel)
);
