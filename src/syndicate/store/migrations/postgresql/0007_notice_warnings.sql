-- Version 7: statutory rules in warn mode that a notice breaks, recorded when it is accepted.
CREATE TABLE notice_warnings (
    id        bigserial PRIMARY KEY,
    notice_pk bigint NOT NULL REFERENCES notices (pk),
    rule      text   NOT NULL,
    message   text   NOT NULL
);
CREATE INDEX notice_warnings_notice ON notice_warnings (notice_pk);
