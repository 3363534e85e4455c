-- Version 4: the hash chain, as in SQLite's 0004_chain.sql. Writers that chain
-- lock the one chain_head row (SELECT … FOR UPDATE) until they commit, so links
-- are numbered in commit order whatever the number of workers.
CREATE TABLE chain (
    seq         bigint  PRIMARY KEY,
    at          double precision NOT NULL,
    kind        text    NOT NULL,
    ref         bigint  NOT NULL,
    delivery    bigint,
    body        text    NOT NULL,
    body_sha256 text    NOT NULL,
    prev_hash   text    NOT NULL,
    hash        text    NOT NULL
);
CREATE INDEX chain_kind_ref ON chain (kind, ref);
CREATE INDEX chain_delivery ON chain (delivery, seq) WHERE delivery IS NOT NULL;

CREATE TABLE chain_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint  NOT NULL,
    hash text    NOT NULL
);
INSERT INTO chain_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE archived_attempts (
    attempt_id bigint PRIMARY KEY,
    archive    bigint NOT NULL
);

CREATE FUNCTION syndicate_chain_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the chain is append-only';
END
$$;
CREATE TRIGGER chain_append_only BEFORE UPDATE OR DELETE ON chain
    FOR EACH ROW EXECUTE PROCEDURE syndicate_chain_append_only();

-- An archived attempt may leave the table (its link and its archive stay); no other may.
CREATE OR REPLACE FUNCTION syndicate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM archived_attempts WHERE attempt_id = OLD.id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'attempts are append-only';
END
$$;
