-- Version 6: whether sanitising the notice's body_html for the channels removed anything
-- (a script, an event handler, a javascript: link...): what the channels got differs from
-- what upstream sent, and the ledger says so.
ALTER TABLE notices ADD COLUMN body_sanitized INTEGER NOT NULL DEFAULT 0;
