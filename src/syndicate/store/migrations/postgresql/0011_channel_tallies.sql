-- Version 11: channel health from running tallies, not from scans of the attempt log.
-- Attempts per channel, outcome and minute (the success rates over 1 h and 24 h, today's figures).
CREATE TABLE attempt_tallies (
    minute  bigint NOT NULL,  -- started_at // 60
    channel text   NOT NULL,
    outcome text   NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (minute, channel, outcome)
);
INSERT INTO attempt_tallies (minute, channel, outcome, n)
SELECT floor(a.started_at / 60)::bigint, d.channel, a.outcome, COUNT(*)
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.started_at >= extract(epoch FROM now()) - 2 * 86400
GROUP BY 1, 2, 3;
-- Each channel's newest failed attempt.
CREATE TABLE channel_failures (
    channel    text PRIMARY KEY,
    attempt_id bigint NOT NULL
);
INSERT INTO channel_failures (channel, attempt_id)
SELECT d.channel, MAX(a.id) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.outcome IN ('transient', 'permanent')
GROUP BY d.channel;
-- Deliveries by state and channel, counted from the index alone.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_state ON deliveries (state, channel, notice_pk);
