-- Version 11: channel health from running tallies, not from scans of the attempt log.
-- Attempts per channel, outcome and minute (the success rates over 1 h and 24 h, today's figures).
CREATE TABLE attempt_tallies (
    minute  INTEGER NOT NULL,  -- started_at // 60
    channel TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (minute, channel, outcome)
) WITHOUT ROWID;
INSERT INTO attempt_tallies (minute, channel, outcome, n)
SELECT CAST(a.started_at / 60 AS INTEGER), d.channel, a.outcome, COUNT(*)
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.started_at >= CAST(strftime('%s', 'now') AS REAL) - 2 * 86400
GROUP BY 1, 2, 3;
-- Each channel's newest failed attempt.
CREATE TABLE channel_failures (
    channel    TEXT PRIMARY KEY,
    attempt_id INTEGER NOT NULL
);
INSERT INTO channel_failures (channel, attempt_id)
SELECT d.channel, MAX(a.id) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.outcome IN ('transient', 'permanent')
GROUP BY d.channel;
-- Deliveries by state and channel, counted from the index alone.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_state ON deliveries (state, channel, notice_pk);
