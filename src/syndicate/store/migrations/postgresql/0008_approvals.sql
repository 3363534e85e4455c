-- Version 8: approval bound to content, as in SQLite's 0008_approvals.sql.
CREATE TABLE approval_requests (
    notice_pk  bigint  PRIMARY KEY REFERENCES notices (pk),
    steps      text    NOT NULL,
    step_count integer NOT NULL CHECK (step_count >= 1),
    channels   text    NOT NULL
);

CREATE TABLE approvals (
    id        bigserial PRIMARY KEY,
    notice_pk bigint    NOT NULL REFERENCES approval_requests (notice_pk),
    position  integer   NOT NULL CHECK (position >= 0),
    step      text      NOT NULL,
    decision  text      NOT NULL CHECK (decision IN ('approved', 'rejected')),
    approver  text      NOT NULL,
    digest    text      NOT NULL,
    comment   text,
    via       text,
    at        double precision NOT NULL,
    UNIQUE (notice_pk, position)
);

CREATE FUNCTION syndicate_approvals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER approval_requests_append_only BEFORE UPDATE OR DELETE ON approval_requests
    FOR EACH ROW EXECUTE PROCEDURE syndicate_approvals_append_only();
CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE ON approvals
    FOR EACH ROW EXECUTE PROCEDURE syndicate_approvals_append_only();
