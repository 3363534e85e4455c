-- Version 7: statutory rules in warn mode that a notice breaks, recorded when it is accepted.
CREATE TABLE notice_warnings (
    id        INTEGER PRIMARY KEY,
    notice_pk INTEGER NOT NULL REFERENCES notices (pk),
    rule      TEXT    NOT NULL,
    message   TEXT    NOT NULL
);
CREATE INDEX notice_warnings_notice ON notice_warnings (notice_pk);
