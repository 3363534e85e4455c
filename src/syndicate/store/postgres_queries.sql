-- The PostgreSQL ledger's queries, by name: the same names and parameters as
-- SQLite's, written %(name)s. Plain SQL (no extension, no server-side
-- function of ours) so that PostgreSQL-compatible servers can run it too.

-- name: lock_migrations
SELECT pg_advisory_xact_lock(7316203411)

-- name: migration_lock_wait
-- How long one statement of a migration waits for a table that others are writing.
SET LOCAL lock_timeout = '2s'

-- name: has_meta
SELECT 1 FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = 'meta'

-- name: schema_version
SELECT value FROM meta WHERE key = 'schema_version'

-- name: set_schema_version
INSERT INTO meta (key, value) VALUES ('schema_version', %(version)s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: find_notice
SELECT pk, digest, accepted_at FROM notices WHERE id = %(id)s AND version = %(version)s

-- name: routed_channels
SELECT channel FROM deliveries WHERE notice_pk = %(pk)s AND purpose = 'publish' ORDER BY id

-- name: insert_notice
INSERT INTO notices (id, version, category, notice_type, region_code, title,
                     digest, content, publish_at, publish_day, accepted_at, body_sanitized, kind)
VALUES (%(id)s, %(version)s, %(category)s, %(notice_type)s, %(region_code)s, %(title)s,
        %(digest)s, %(content)s, %(publish_at)s, %(publish_day)s, %(accepted_at)s,
        %(body_sanitized)s, %(kind)s)
RETURNING pk, id, version, category, notice_type, region_code, title, digest, content,
          publish_at, accepted_at, body_sanitized, kind

-- name: tally_routed
INSERT INTO tallies (day, category, channel, routed) VALUES (%(day)s, %(category)s, %(channel)s, 1)
ON CONFLICT (day, category, channel) DO UPDATE SET routed = tallies.routed + 1

-- name: insert_delivery
INSERT INTO deliveries (notice_pk, channel, idempotency_key, state, next_attempt_at, updated_at,
                        purpose)
VALUES (%(notice_pk)s, %(channel)s, %(idempotency_key)s, 'pending', %(due)s, %(now)s,
        %(purpose)s)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: notify_due
SELECT pg_notify('syndicate_due', '')

-- name: lock_channel
-- One claimer per channel at a time, so "in flight, all workers" is counted
-- and taken in one step. The row exists once the channel was first claimed.
INSERT INTO channel_pace (channel, next_start) VALUES (%(channel)s, 0)
ON CONFLICT (channel) DO UPDATE SET next_start = channel_pace.next_start

-- name: claim
-- Pending and due, or in flight with the lease run out: a dead worker's
-- deliveries come back in this same query, with no sweeper. SKIP LOCKED: rows
-- another transaction is writing are left to it, never waited for. A delivery
-- taken from a dead worker is in doubt (it may have been sent), and so is one
-- whose last attempt lost the channel's answer.
-- Its where slot: filter_due_channel for one channel's deliveries, or TRUE for any.
WITH due AS (
    SELECT id, state = 'in_flight' AS leased FROM deliveries
    WHERE {where} AND state IN ('pending', 'in_flight') AND next_attempt_at <= %(now)s
      -- On a channel a notice's deliveries go out one at a time, in the order they were
      -- made: a newer version never overtakes an older one there, nor a withdrawal or an
      -- expiry the publication it takes down.
      AND NOT EXISTS (
          SELECT 1 FROM notices mine JOIN notices en ON en.id = mine.id
          JOIN deliveries e ON e.notice_pk = en.pk
          WHERE mine.pk = deliveries.notice_pk AND e.channel = deliveries.channel
            AND e.id < deliveries.id AND e.state IN ('pending', 'in_flight'))
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d
SET state = 'in_flight', lease_owner = %(worker)s, fence = d.fence + 1,
    next_attempt_at = %(expires)s, updated_at = %(now)s
FROM due, notices n
WHERE d.id = due.id AND n.pk = d.notice_pk
RETURNING d.id AS delivery_id, n.id AS notice_id, n.version AS notice_version, d.channel,
          d.idempotency_key, d.fence, d.attempts, d.tries, d.cycle_started_at, n.digest,
          due.leased OR EXISTS (
              SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.number = d.attempts
              AND a.error_class = 'InDoubtDeliveryError') AS in_doubt,
          n.accepted_at, n.kind, d.purpose

-- name: finish_delivery
-- Only the current lease holder (its fence) may move the delivery on.
UPDATE deliveries
SET state = %(state)s, next_attempt_at = %(next_at)s, lease_owner = NULL,
    attempts = attempts + 1, tries = tries + 1,
    cycle_started_at = COALESCE(cycle_started_at, %(started_at)s),
    remote_id = COALESCE(%(remote_id)s, remote_id),
    remote_url = COALESCE(%(remote_url)s, remote_url),
    last_error = %(last_error)s, updated_at = %(finished_at)s
WHERE id = %(delivery_id)s AND fence = %(fence)s AND state = 'in_flight'
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: notice_day
SELECT publish_day, category, kind FROM notices WHERE pk = %(pk)s

-- name: tally_set_aside
-- Publications set aside (superseded, cancelled) will not go out: no longer due.
UPDATE tallies SET routed = routed - %(n)s
WHERE day = %(day)s AND category = %(category)s AND channel = %(channel)s

-- name: tally_delivered
UPDATE tallies SET delivered = delivered + %(n)s
WHERE day = %(day)s AND category = %(category)s AND channel = %(channel)s

-- name: insert_attempt
INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at, outcome,
                      error_class, error_message, status, remote_id, remote_url, payload_sha256)
VALUES (%(delivery_id)s, %(number)s, %(worker)s, %(fence)s, %(started_at)s, %(finished_at)s,
        %(outcome)s, %(error_class)s, %(error_message)s, %(status)s, %(remote_id)s,
        %(remote_url)s, %(payload_sha256)s)
RETURNING id, delivery_id, number, worker, fence, started_at, finished_at, outcome,
          error_class, error_message, status, remote_id, remote_url, payload_sha256

-- name: replay
UPDATE deliveries SET state = 'pending', next_attempt_at = %(now)s, tries = 0,
       cycle_started_at = NULL, updated_at = %(now)s
WHERE {where}
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: filter_states
state = ANY(%(states)s)

-- name: filter_replay_notice
notice_pk IN (SELECT pk FROM notices WHERE id = %(notice_id)s)

-- name: filter_due_channel
channel = %(channel)s

-- name: filter_replay_channel
channel = %(channel)s

-- name: notice
SELECT id, version, category, notice_type, region_code, title, digest, content,
       accepted_at, publish_at, body_sanitized
FROM notices WHERE id = %(id)s AND version = %(version)s

-- name: deliveries
SELECT d.id, n.id AS notice_id, n.version AS notice_version, d.channel, d.state, d.attempts,
       d.next_attempt_at, d.idempotency_key, d.remote_id, d.remote_url, d.last_error,
       d.updated_at, n.title, n.category, d.purpose
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY d.id
LIMIT %(limit)s

-- name: earlier_delivery
-- What the channel carries of the notice: the newest version delivered there (one
-- superseded, cancelled, failed or dead published nothing).
SELECT n.version, d.state, d.remote_id, d.remote_url
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = %(notice_id)s AND n.version < %(below)s AND d.channel = %(channel)s
  AND d.purpose = 'publish' AND d.state = 'delivered'
ORDER BY n.version DESC
LIMIT 1

-- name: latest_version
SELECT MAX(version) AS version FROM notices WHERE id = %(id)s

-- name: withdrawal
SELECT id, notice_id, version, reason, at, by FROM withdrawals WHERE notice_id = %(notice_id)s

-- name: lock_notice_id
-- Versions of one notice and its withdrawal are decided one at a time, whatever the worker.
SELECT pg_advisory_xact_lock(hashtextextended(%(id)s, 12))

-- name: insert_withdrawal
INSERT INTO withdrawals (notice_id, version, reason, at, by)
VALUES (%(notice_id)s, %(version)s, %(reason)s, %(at)s, %(by)s)
RETURNING id, notice_id, version, reason, at, by

-- name: earlier_channels
-- Every channel that has (or had) a publication of an earlier version: a new version follows.
SELECT d.channel, MIN(d.id) AS first_id
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = %(id)s AND n.version < %(version)s AND d.purpose = 'publish'
GROUP BY d.channel
ORDER BY first_id

-- name: supersede_earlier
-- Pending deliveries of earlier versions on the channels the new one goes to are not sent.
UPDATE deliveries SET state = 'superseded', updated_at = %(now)s,
       last_error = 'superseded by version ' || %(version)s
WHERE state = 'pending' AND channel = ANY(%(channel_list)s)
  AND notice_pk IN (SELECT pk FROM notices WHERE id = %(id)s AND version < %(version)s)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: set_aside_if_overtaken
-- A delivery back to pending after an attempt, overtaken meanwhile: by a newer version on
-- its channel (superseded), or by a withdrawal of its notice (cancelled).
WITH overtaken AS (
    SELECT d.id,
           d.purpose <> 'withdrawal' AND EXISTS (
               SELECT 1 FROM withdrawals w JOIN notices wn ON wn.id = w.notice_id
               WHERE wn.pk = d.notice_pk) AS withdrawn,
           EXISTS (
               SELECT 1 FROM deliveries e JOIN notices en ON en.pk = e.notice_pk
               JOIN notices mine ON mine.id = en.id
               WHERE mine.pk = d.notice_pk AND en.version > mine.version
                 AND e.channel = d.channel AND e.purpose = 'publish') AS newer
    FROM deliveries d WHERE d.id = %(delivery_id)s AND d.state = 'pending'
)
UPDATE deliveries SET
    state = CASE WHEN o.withdrawn THEN 'cancelled' ELSE 'superseded' END,
    last_error = CASE WHEN o.withdrawn THEN 'cancelled: the notice was withdrawn'
                      ELSE 'superseded by a newer version' END
FROM overtaken o
WHERE deliveries.id = o.id AND (o.withdrawn OR o.newer)
RETURNING deliveries.id, notice_pk, channel, idempotency_key, state, attempts, remote_id,
          remote_url, last_error, purpose

-- name: cancel_pending
-- A withdrawal: what has not gone out yet of any version does not go out.
UPDATE deliveries SET state = 'cancelled', updated_at = %(now)s,
       last_error = 'cancelled: the notice was withdrawn'
WHERE state = 'pending' AND purpose <> 'withdrawal'
  AND notice_pk IN (SELECT pk FROM notices WHERE id = %(id)s)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: carrying_channels
-- Channels where some version is published, or may be (an attempt under way): each is
-- asked to take the notice down.
SELECT d.channel, MIN(d.id) AS first_id
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = %(id)s AND d.purpose = 'publish' AND d.state IN ('delivered', 'in_flight')
GROUP BY d.channel
ORDER BY first_id

-- name: filter_notice
n.id = %(notice_id)s

-- name: filter_channel
d.channel = %(channel)s

-- name: filter_state
d.state = %(state)s

-- name: filter_outcome
a.outcome = %(outcome)s

-- name: filter_since
a.started_at >= %(since)s

-- name: filter_after
a.id > %(cursor)s

-- name: filter_before
a.id < %(cursor)s

-- name: attempts
SELECT a.id, a.delivery_id, n.id AS notice_id, n.version AS notice_version, d.channel,
       a.number, a.worker, a.started_at, a.finished_at, a.outcome, a.error_class,
       a.error_message, a.status, a.remote_id, a.remote_url, a.payload_sha256
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY a.id {order}
LIMIT %(limit)s

-- name: counts
-- Delivered is nearly every row of a big ledger: its count comes from the running tallies;
-- the other states are few, found by index.
SELECT channel, state, SUM(n)::bigint AS n FROM (
    SELECT channel, state, COUNT(*) AS n FROM deliveries
    WHERE state IN ('pending', 'in_flight', 'failed', 'dead', 'superseded', 'cancelled')
      AND notice_pk NOT IN (SELECT pk FROM notices WHERE kind = 'alert')
    GROUP BY channel, state
    UNION ALL
    SELECT channel, 'delivered', SUM(delivered) FROM tallies
    WHERE channel <> ''
    GROUP BY channel
    HAVING SUM(delivered) > 0
    UNION ALL
    -- withdrawals and expiries that went out: not publications, so not in the tallies
    SELECT channel, 'delivered', COUNT(*) FROM deliveries
    WHERE purpose <> 'publish' AND state = 'delivered'
    GROUP BY channel
) counted
GROUP BY channel, state

-- name: year_counts
SELECT category, channel, SUM(routed) AS routed, SUM(delivered) AS delivered
FROM tallies WHERE day >= %(first_day)s AND day < %(next_year)s
GROUP BY category, channel

-- name: next_due
SELECT next_attempt_at FROM deliveries
WHERE state IN ('pending', 'in_flight') ORDER BY next_attempt_at LIMIT 1

-- name: next_due_work
-- The same, leaving out expiries scheduled after :now: waiting for a notice's valid_until
-- is not work left to do.
SELECT next_attempt_at FROM deliveries
WHERE state IN ('pending', 'in_flight')
  AND NOT (purpose = 'expiry' AND state = 'pending' AND next_attempt_at > %(now)s)
ORDER BY next_attempt_at LIMIT 1

-- name: set_circuit
INSERT INTO circuits (channel, state, failures, reopens_at, worker, updated_at, probe_until,
                      opened_at)
VALUES (%(channel)s, %(state)s, %(failures)s, %(reopens_at)s, %(worker)s, %(updated_at)s,
        %(probe_until)s, %(opened_at)s)
ON CONFLICT (channel) DO UPDATE SET
    state = excluded.state, failures = excluded.failures, reopens_at = excluded.reopens_at,
    worker = excluded.worker, updated_at = excluded.updated_at,
    probe_until = excluded.probe_until, opened_at = excluded.opened_at

-- name: close_circuit
UPDATE circuits
SET state = 'closed', failures = 0, reopens_at = NULL, probe_until = NULL, opened_at = NULL,
    worker = %(worker)s, updated_at = %(updated_at)s
WHERE channel = %(channel)s AND (state <> 'closed' OR failures > 0)

-- name: circuits
SELECT channel, state, failures, reopens_at, worker, updated_at, probe_until, opened_at
FROM circuits

-- name: circuit_of_channel
SELECT channel, state, failures, reopens_at, worker, updated_at, probe_until, opened_at
FROM circuits WHERE channel = %(channel)s

-- name: release_probe
UPDATE circuits SET probe_until = NULL, updated_at = %(now)s
WHERE channel = %(channel)s AND state = 'half_open'

-- name: book_start
INSERT INTO channel_pace (channel, next_start) VALUES (%(channel)s, %(now)s + %(interval)s)
ON CONFLICT (channel) DO UPDATE
    SET next_start = GREATEST(channel_pace.next_start, %(now)s) + %(interval)s
RETURNING next_start - %(interval)s AS start_at

-- name: reset_sequences
-- After a copy brought rows in with their ids: new rows continue after them.
SELECT setval(pg_get_serial_sequence('notices', 'pk'), COALESCE(MAX(pk), 0) + 1, false)
FROM notices
UNION ALL
SELECT setval(pg_get_serial_sequence('deliveries', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM deliveries
UNION ALL
SELECT setval(pg_get_serial_sequence('attempts', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM attempts
UNION ALL
SELECT setval(pg_get_serial_sequence('operations', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM operations
UNION ALL
SELECT setval(pg_get_serial_sequence('withdrawals', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM withdrawals
UNION ALL
SELECT setval(pg_get_serial_sequence('notice_warnings', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM notice_warnings
UNION ALL
SELECT setval(pg_get_serial_sequence('approvals', 'id'), COALESCE(MAX(id), 0) + 1, false)
FROM approvals

-- name: lease_owners
SELECT DISTINCT lease_owner FROM deliveries
WHERE state = 'in_flight' AND lease_owner IS NOT NULL

-- name: expire_leases
-- The deliveries stay in flight: the next claim knows their outcome is in doubt.
UPDATE deliveries SET next_attempt_at = %(now)s
WHERE state = 'in_flight' AND lease_owner = %(owner)s AND next_attempt_at > %(now)s

-- name: live_token_named
SELECT 1 FROM tokens WHERE name = %(name)s AND revoked_at IS NULL

-- name: insert_token
INSERT INTO tokens (id, name, scopes, secret_sha256, created_at)
VALUES (%(id)s, %(name)s, %(scopes)s, %(secret_sha256)s, %(created_at)s)
RETURNING id, name, scopes, secret_sha256, created_at, revoked_at

-- name: token
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens WHERE id = %(id)s

-- name: tokens
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens ORDER BY created_at, id

-- name: revoke_token
UPDATE tokens SET revoked_at = %(now)s WHERE name = %(name)s AND revoked_at IS NULL
RETURNING id, name, scopes, secret_sha256, created_at, revoked_at

-- name: insert_operation
INSERT INTO operations (at, actor, action, subject)
VALUES (%(at)s, %(actor)s, %(action)s, %(subject)s)
RETURNING id, at, actor, action, subject

-- name: operations
SELECT id, at, actor, action, subject FROM operations ORDER BY id DESC LIMIT %(limit)s

-- name: gate_of_channel
-- What a claim of the channel must respect: deliveries in flight under an
-- unexpired lease, any worker's, and the channel's circuit.
SELECT (SELECT COUNT(*) FROM deliveries
        WHERE channel = %(channel)s AND state = 'in_flight' AND next_attempt_at > %(now)s) AS in_flight,
       c.channel, c.state, c.failures, c.reopens_at, c.worker, c.updated_at, c.probe_until,
       c.opened_at
FROM (SELECT 1) AS one LEFT JOIN circuits c ON c.channel = %(channel)s

-- name: try_lock_channel
SELECT channel FROM channel_pace WHERE channel = %(channel)s FOR UPDATE SKIP LOCKED

-- name: add_channel_row
-- The channel's first claim: the new row is held by this transaction.
INSERT INTO channel_pace (channel, next_start) VALUES (%(channel)s, 0)
ON CONFLICT (channel) DO NOTHING
RETURNING channel

-- name: filter_error_class
a.error_class = %(error_class)s

-- name: filter_until
a.started_at < %(until)s

-- name: notice_page
SELECT n.pk, n.id, n.version, n.category, n.notice_type, n.region_code, n.title,
       n.project_code, n.digest, n.accepted_at,
       n.publish_at,
       (SELECT CASE
                   WHEN EXISTS (SELECT 1 FROM approvals a
                                WHERE a.notice_pk = n.pk AND a.decision = 'rejected')
                   THEN 'rejected'
                   WHEN (SELECT COUNT(*) FROM approvals a WHERE a.notice_pk = n.pk) < r.step_count
                   THEN 'awaiting_approval'
                   ELSE 'approved' END
        FROM approval_requests r WHERE r.notice_pk = n.pk) AS approval,
       COUNT(d.id) FILTER (WHERE d.state = 'delivered') AS delivered,
       COUNT(d.id) FILTER (WHERE d.state IN ('pending', 'in_flight')) AS unfinished,
       COUNT(d.id) FILTER (WHERE d.state IN ('failed', 'dead')) AS ended_badly,
       COUNT(d.id) FILTER (WHERE d.state IN ('superseded', 'cancelled')) AS set_aside,
       EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id) AS withdrawn
FROM notices n LEFT JOIN deliveries d ON d.notice_pk = n.pk AND d.purpose = 'publish'
WHERE {where}
GROUP BY n.pk {having}
ORDER BY n.pk DESC
LIMIT %(limit)s

-- name: having_publishing
HAVING NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id) AND COUNT(d.id) FILTER (WHERE d.state IN ('pending', 'in_flight')) > 0

-- name: having_published
HAVING NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id)
   AND COUNT(d.id) FILTER (WHERE d.state IN ('pending', 'in_flight')) = 0
   AND COUNT(d.id) FILTER (WHERE d.state IN ('failed', 'dead')) = 0
   AND COUNT(d.id) FILTER (WHERE d.state = 'delivered') > 0

-- name: having_partly_published
HAVING NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id) AND COUNT(d.id) FILTER (WHERE d.state IN ('pending', 'in_flight')) = 0 AND COUNT(d.id) FILTER (WHERE d.state IN ('failed', 'dead')) > 0

-- name: having_superseded
HAVING NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id) AND COUNT(d.id) FILTER (WHERE d.state IN ('pending', 'in_flight')) = 0 AND COUNT(d.id) FILTER (WHERE d.state IN ('failed', 'dead')) = 0
   AND COUNT(d.id) FILTER (WHERE d.state = 'delivered') = 0 AND COUNT(d.id) FILTER (WHERE d.state IN ('superseded', 'cancelled')) > 0

-- name: having_withdrawn
HAVING NOT NOT EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id)

-- name: filter_notices_only
-- Operator alerts are deliveries of their own, not notices the center published.
n.kind = 'notice'

-- name: filter_notice_version
n.version = %(notice_version)s

-- name: filter_category
n.category = %(category)s

-- name: filter_notice_type
n.notice_type = %(notice_type)s

-- name: filter_region
n.region_code = %(region)s

-- name: filter_region_prefix
n.region_code LIKE %(region_prefix)s ESCAPE '\'

-- name: filter_routed_to
EXISTS (SELECT 1 FROM deliveries c WHERE c.notice_pk = n.pk AND c.channel = %(channel)s)

-- name: filter_accepted_since
n.accepted_at >= %(since)s

-- name: filter_accepted_until
n.accepted_at < %(until)s

-- name: filter_text
-- With pg_trgm installed, its index (notices_text_trgm) serves this; without, each notice's
-- two columns are read, newest first, until a page is full.
(n.title LIKE %(text)s ESCAPE '\' OR n.project_code LIKE %(text)s ESCAPE '\')

-- name: filter_notice_before
n.pk < %(cursor)s

-- name: notice_versions
SELECT id, version, category, notice_type, region_code, title, digest, content,
       accepted_at, publish_at, body_sanitized
FROM notices WHERE id = %(id)s ORDER BY version

-- name: delivery_page
SELECT d.id, n.id AS notice_id, n.version AS notice_version, d.channel, d.state, d.attempts,
       d.next_attempt_at, d.idempotency_key, d.remote_id, d.remote_url, d.last_error,
       d.updated_at, n.title, n.category, d.purpose
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY d.id DESC
LIMIT %(limit)s

-- name: filter_last_error_class
d.last_error LIKE %(error_prefix)s ESCAPE '\'

-- name: filter_updated_since
d.updated_at >= %(since)s

-- name: filter_updated_until
d.updated_at < %(until)s

-- name: filter_delivery_before
d.id < %(cursor)s

-- name: backlog
-- The oldest delivery counts from when it became due: accepted, or its embargo ended.
SELECT d.channel, COUNT(*) AS pending,
       MIN(CASE WHEN n.publish_at <= %(now)s THEN GREATEST(n.accepted_at, n.publish_at) END)
           AS oldest_due_at
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE d.state IN ('pending', 'in_flight')
  AND NOT (d.purpose = 'expiry' AND d.state = 'pending' AND d.next_attempt_at > %(now)s)
GROUP BY d.channel

-- name: attempt_outcomes
-- From the running tallies, to the minute: never a scan of the attempt log.
SELECT channel, outcome, SUM(n) AS n FROM attempt_tallies
WHERE minute >= %(minute)s
GROUP BY channel, outcome

-- name: last_failures
-- Each channel's newest attempt that did not deliver, as record_batch keeps it.
SELECT a.id, a.delivery_id, n.id AS notice_id, n.version AS notice_version, d.channel,
       a.number, a.worker, a.started_at, a.finished_at, a.outcome, a.error_class,
       a.error_message, a.status, a.remote_id, a.remote_url, a.payload_sha256
FROM channel_failures f JOIN attempts a ON a.id = f.attempt_id
JOIN deliveries d ON d.id = a.delivery_id JOIN notices n ON n.pk = d.notice_pk

-- name: tally_attempts
INSERT INTO attempt_tallies (minute, channel, outcome, n)
VALUES (%(minute)s, %(channel)s, %(outcome)s, %(n)s)
ON CONFLICT (minute, channel, outcome) DO UPDATE SET n = attempt_tallies.n + excluded.n

-- name: note_failure
INSERT INTO channel_failures (channel, attempt_id) VALUES (%(channel)s, %(attempt_id)s)
ON CONFLICT (channel) DO UPDATE SET attempt_id = GREATEST(channel_failures.attempt_id, excluded.attempt_id)

-- name: pause
INSERT INTO pauses (channel, paused_at, paused_by) VALUES (%(channel)s, %(now)s, %(by)s)
ON CONFLICT (channel) DO NOTHING
RETURNING channel, paused_at, paused_by

-- name: resume
DELETE FROM pauses WHERE channel = %(channel)s
RETURNING channel, paused_at, paused_by

-- name: paused
SELECT channel, paused_at, paused_by FROM pauses

-- name: insert_warning
INSERT INTO notice_warnings (notice_pk, rule, message)
VALUES (%(notice_pk)s, %(rule)s, %(message)s)
RETURNING id, notice_pk, rule, message

-- name: filter_replay_version
notice_pk IN (SELECT pk FROM notices WHERE id = %(notice_id)s AND version = %(version)s)

-- name: filter_replay_current
-- Never sent again: what a newer version of its notice overtook on its channel, or (but
-- for the withdrawal itself) what belongs to a withdrawn notice.
NOT EXISTS (
    SELECT 1 FROM deliveries e JOIN notices en ON en.pk = e.notice_pk
    JOIN notices mine ON mine.id = en.id
    WHERE mine.pk = deliveries.notice_pk AND en.version > mine.version
      AND e.channel = deliveries.channel AND e.purpose = 'publish')
AND (purpose = 'withdrawal' OR NOT EXISTS (
    SELECT 1 FROM withdrawals w JOIN notices wn ON wn.id = w.notice_id
    WHERE wn.pk = deliveries.notice_pk))

-- name: filter_replay_delivery
id = %(delivery_id)s

-- name: filter_replay_since
updated_at >= %(since)s

-- name: filter_replay_until
updated_at < %(until)s

-- name: replay_count
SELECT COUNT(*) AS n FROM deliveries WHERE {where}

-- name: notice_warnings
SELECT w.rule, w.message
FROM notice_warnings w JOIN notices n ON n.pk = w.notice_pk
WHERE n.id = %(id)s AND n.version = %(version)s
ORDER BY w.id

-- name: filter_replay_error_class
last_error LIKE %(error_prefix)s ESCAPE '\'

-- name: failure_groups
-- last_error reads "ErrorClass: message"; the class is what a replay by group filters on.
SELECT channel, state, error_class, COUNT(*) AS deliveries, MAX(updated_at) AS latest_at,
       (array_agg(last_error ORDER BY updated_at DESC))[1] AS latest_error
FROM (
    SELECT channel, state, updated_at, last_error,
           CASE WHEN strpos(last_error, ': ') > 0
                THEN substr(last_error, 1, strpos(last_error, ': ') - 1)
                ELSE COALESCE(last_error, '') END AS error_class
    FROM deliveries WHERE state IN ('failed', 'dead')
) AS f
GROUP BY channel, state, error_class
ORDER BY deliveries DESC, channel

-- name: accepted_since
SELECT COUNT(*) AS n FROM notices WHERE accepted_at >= %(since)s AND kind = 'notice'

-- Approval bound to content (see syndicate.approval). A notice that needs approval has an
-- approval request and no delivery until its last step is approved.

-- name: insert_approval_request
INSERT INTO approval_requests (notice_pk, steps, step_count, channels)
VALUES (%(notice_pk)s, %(steps)s, %(step_count)s, %(channels)s)
RETURNING notice_pk, steps, step_count, channels

-- name: approval_request
SELECT notice_pk, steps, step_count, channels FROM approval_requests WHERE notice_pk = %(pk)s

-- name: approval_request_locked
-- Deciders of one notice queue here: the second sees the first's decision, never a duplicate.
SELECT notice_pk, steps, step_count, channels FROM approval_requests WHERE notice_pk = %(pk)s
FOR UPDATE

-- name: notice_to_decide
SELECT pk, id, version, category, publish_at, publish_day, digest, content
FROM notices WHERE id = %(id)s AND version = %(version)s

-- name: approvals_of
SELECT id, notice_pk, position, step, decision, approver, digest, comment, via, at
FROM approvals WHERE notice_pk = %(pk)s ORDER BY position

-- name: insert_approval
INSERT INTO approvals (notice_pk, position, step, decision, approver, digest, comment, via, at)
VALUES (%(notice_pk)s, %(position)s, %(step)s, %(decision)s, %(approver)s, %(digest)s, %(comment)s, %(via)s, %(at)s)
RETURNING id, notice_pk, position, step, decision, approver, digest, comment, via, at

-- name: approval_trails
SELECT n.version, r.steps, a.id, a.notice_pk, a.position, a.step, a.decision, a.approver,
       a.digest, a.comment, a.via, a.at
FROM approval_requests r JOIN notices n ON n.pk = r.notice_pk
LEFT JOIN approvals a ON a.notice_pk = r.notice_pk
WHERE n.id = %(id)s
ORDER BY n.version, a.position

-- name: awaiting_approvals
SELECT n.id, n.version, n.title, n.digest, n.accepted_at, r.steps,
       (SELECT COUNT(*) FROM approvals a WHERE a.notice_pk = r.notice_pk) AS decided,
       (SELECT MAX(a.at) FROM approvals a WHERE a.notice_pk = r.notice_pk) AS last_at
FROM approval_requests r JOIN notices n ON n.pk = r.notice_pk
WHERE r.step_count > (SELECT COUNT(*) FROM approvals a WHERE a.notice_pk = r.notice_pk)
  AND NOT EXISTS (SELECT 1 FROM approvals a
                  WHERE a.notice_pk = r.notice_pk AND a.decision = 'rejected')
ORDER BY n.pk
LIMIT %(limit)s

-- name: has_approval_requests
SELECT EXISTS (SELECT 1 FROM approval_requests) AS found

-- name: approval_figures
-- Notice versions published in the range whose every step was approved: the last approval,
-- and the first attempt that delivered the version anywhere.
SELECT n.pk, MAX(p.at) AS approved_at,
       (SELECT MIN(t.finished_at) FROM deliveries d JOIN attempts t ON t.delivery_id = d.id
        WHERE d.notice_pk = n.pk AND t.outcome = 'delivered') AS first_delivered_at
FROM approval_requests r JOIN notices n ON n.pk = r.notice_pk
JOIN approvals p ON p.notice_pk = r.notice_pk
WHERE n.publish_at >= %(since)s AND n.publish_at < %(until)s
GROUP BY n.pk, r.step_count
HAVING SUM(CASE WHEN p.decision = 'approved' THEN 1 ELSE 0 END) = r.step_count
ORDER BY n.pk

-- name: filter_awaiting_approval
-- Driven from the approval requests (few) rather than from every notice.
n.pk IN (SELECT r.notice_pk FROM approval_requests r
         WHERE (SELECT COUNT(*) FROM approvals a WHERE a.notice_pk = r.notice_pk) < r.step_count
           AND NOT EXISTS (SELECT 1 FROM approvals a
                           WHERE a.notice_pk = r.notice_pk AND a.decision = 'rejected'))

-- name: filter_rejected
n.pk IN (SELECT a.notice_pk FROM approvals a WHERE a.decision = 'rejected')
