-- Version 8: approval bound to content. A notice whose category or type needs
-- approval is stored with its approval request (the steps, in order, and the
-- channels it was routed to) and no delivery; each decision is a row of
-- approvals naming the digest the approver saw. The deliveries are created when
-- the last step is approved. Both tables are ledger facts: chained, append-only.
CREATE TABLE approval_requests (
    notice_pk  INTEGER PRIMARY KEY REFERENCES notices (pk),
    steps      TEXT    NOT NULL,  -- JSON list of step names, in order
    step_count INTEGER NOT NULL CHECK (step_count >= 1),
    channels   TEXT    NOT NULL   -- JSON list: the channels routed at enqueue
);

CREATE TABLE approvals (
    id        INTEGER PRIMARY KEY,
    notice_pk INTEGER NOT NULL REFERENCES approval_requests (notice_pk),
    position  INTEGER NOT NULL CHECK (position >= 0),
    step      TEXT    NOT NULL,
    decision  TEXT    NOT NULL CHECK (decision IN ('approved', 'rejected')),
    approver  TEXT    NOT NULL,
    digest    TEXT    NOT NULL,  -- the canonical digest the approver saw
    comment   TEXT,
    via       TEXT,              -- the API token that relayed the decision, if any
    at        REAL    NOT NULL,
    UNIQUE (notice_pk, position)  -- one decision per step: a second is refused
);

CREATE TRIGGER approval_requests_no_update BEFORE UPDATE ON approval_requests
BEGIN SELECT RAISE(ABORT, 'approval requests are append-only'); END;
CREATE TRIGGER approval_requests_no_delete BEFORE DELETE ON approval_requests
BEGIN SELECT RAISE(ABORT, 'approval requests are append-only'); END;
CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;
