-- Version 9: operator alerts are notices of their own kind, kept out of the notice views;
-- a circuit remembers when it opened, so each outage is one incident.
ALTER TABLE notices ADD COLUMN kind TEXT NOT NULL DEFAULT 'notice';
ALTER TABLE circuits ADD COLUMN opened_at REAL;
CREATE INDEX notices_alerts ON notices (pk) WHERE kind = 'alert';
