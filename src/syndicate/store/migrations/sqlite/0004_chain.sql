-- Version 4: the hash chain. Every notice accepted, delivery created, attempt
-- recorded and delivery replayed is a link: the change as canonical JSON (body),
-- its SHA-256, and a hash over its place and the previous link's hash. The
-- hashes are computed by syndicate (syndicate.audit.chain), the same on every
-- backend; a ledger upgraded to this version has its rows chained as they stand.
CREATE TABLE chain (
    seq         INTEGER PRIMARY KEY,
    at          REAL    NOT NULL,
    kind        TEXT    NOT NULL,
    ref         INTEGER NOT NULL,
    delivery    INTEGER,
    body        TEXT    NOT NULL,
    body_sha256 TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX chain_kind_ref ON chain (kind, ref);
CREATE INDEX chain_delivery ON chain (delivery, seq) WHERE delivery IS NOT NULL;

-- The newest link: a copy that shows a deleted tail, and the one row writers queue on.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO chain_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Attempts moved out to an archive file (syndicate archive); the archive's own link
-- holds the file's SHA-256 and a digest of these ids.
CREATE TABLE archived_attempts (
    attempt_id INTEGER PRIMARY KEY,
    archive    INTEGER NOT NULL  -- the seq of the archive's link
);

CREATE TRIGGER chain_no_update BEFORE UPDATE ON chain
BEGIN SELECT RAISE(ABORT, 'the chain is append-only'); END;
CREATE TRIGGER chain_no_delete BEFORE DELETE ON chain
BEGIN SELECT RAISE(ABORT, 'the chain is append-only'); END;

-- An archived attempt may leave the table (its link and its archive stay); no other may.
DROP TRIGGER attempts_no_delete;
CREATE TRIGGER attempts_no_delete BEFORE DELETE ON attempts
WHEN NOT EXISTS (SELECT 1 FROM archived_attempts WHERE attempt_id = OLD.id)
BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
