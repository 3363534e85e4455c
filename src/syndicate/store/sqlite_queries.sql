-- The SQLite ledger's queries, by name. Parameters are :named; times are UTC
-- seconds since the epoch. Filter fragments (filter_*) are ANDed into the
-- queries that carry a {where} slot.

-- name: schema_version
SELECT value FROM meta WHERE key = 'schema_version'

-- name: set_schema_version
INSERT INTO meta (key, value) VALUES ('schema_version', :version)
ON CONFLICT (key) DO UPDATE SET value = excluded.value

-- name: has_meta
SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'

-- name: find_notice
SELECT pk, digest, accepted_at FROM notices WHERE id = :id AND version = :version

-- name: routed_channels
SELECT channel FROM deliveries WHERE notice_pk = :pk AND purpose = 'publish' ORDER BY id

-- name: insert_notice
INSERT INTO notices (id, version, category, notice_type, region_code, title,
                     digest, content, publish_at, publish_day, accepted_at, body_sanitized, kind)
VALUES (:id, :version, :category, :notice_type, :region_code, :title,
        :digest, :content, :publish_at, :publish_day, :accepted_at, :body_sanitized, :kind)
RETURNING pk, id, version, category, notice_type, region_code, title, digest, content,
          publish_at, accepted_at, body_sanitized, kind

-- name: insert_warning
INSERT INTO notice_warnings (notice_pk, rule, message) VALUES (:notice_pk, :rule, :message)
RETURNING id, notice_pk, rule, message

-- name: tally_routed
INSERT INTO tallies (day, category, channel, routed) VALUES (:day, :category, :channel, 1)
ON CONFLICT (day, category, channel) DO UPDATE SET routed = tallies.routed + 1

-- name: insert_delivery
INSERT INTO deliveries (notice_pk, channel, idempotency_key, state, next_attempt_at, updated_at,
                        purpose)
VALUES (:notice_pk, :channel, :idempotency_key, 'pending', :due, :now, :purpose)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: due_deliveries
-- Pending and due, or in flight with the lease run out: a dead worker's
-- deliveries come back with no sweeper. Such a one is in doubt (the dead worker
-- may have sent it), and so is one whose last attempt lost the channel's answer.
-- Its where slot: filter_channel for one channel's deliveries, or 1 = 1 for any.
SELECT d.id AS delivery_id, n.id AS notice_id, n.version AS notice_version, d.channel,
       d.idempotency_key, d.fence + 1 AS fence, d.attempts, d.tries, d.cycle_started_at, n.digest,
       d.state = 'in_flight' OR EXISTS (
           SELECT 1 FROM attempts a WHERE a.delivery_id = d.id AND a.number = d.attempts
           AND a.error_class = 'InDoubtDeliveryError') AS in_doubt,
       n.accepted_at, n.kind, d.purpose
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE {where} AND d.state IN ('pending', 'in_flight') AND d.next_attempt_at <= :now
  -- On a channel a notice's deliveries go out one at a time, in the order they were made:
  -- a newer version never overtakes an older one there, nor a withdrawal or an expiry
  -- the publication it takes down.
  AND NOT EXISTS (
      SELECT 1 FROM deliveries e JOIN notices en ON en.pk = e.notice_pk
      WHERE en.id = n.id AND e.channel = d.channel AND e.id < d.id
        AND e.state IN ('pending', 'in_flight'))
ORDER BY d.next_attempt_at, d.id
LIMIT :limit

-- name: take_lease
UPDATE deliveries SET state = 'in_flight', lease_owner = :worker, fence = fence + 1,
       next_attempt_at = :expires, updated_at = :now
WHERE id = :delivery_id

-- name: finish_delivery
-- Only the current lease holder (its fence) may move the delivery on.
UPDATE deliveries
SET state = :state, next_attempt_at = :next_at, lease_owner = NULL,
    attempts = attempts + 1, tries = tries + 1,
    cycle_started_at = COALESCE(cycle_started_at, :started_at),
    remote_id = COALESCE(:remote_id, remote_id), remote_url = COALESCE(:remote_url, remote_url),
    last_error = :last_error, updated_at = :finished_at
WHERE id = :delivery_id AND fence = :fence AND state = 'in_flight'
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: notice_day
SELECT publish_day, category, kind FROM notices WHERE pk = :pk

-- name: tally_set_aside
-- Publications set aside (superseded, cancelled) will not go out: no longer due.
UPDATE tallies SET routed = routed - :n
WHERE day = :day AND category = :category AND channel = :channel

-- name: tally_delivered
UPDATE tallies SET delivered = delivered + :n
WHERE day = :day AND category = :category AND channel = :channel

-- name: insert_attempt
INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at, outcome,
                      error_class, error_message, status, remote_id, remote_url, payload_sha256)
VALUES (:delivery_id, :number, :worker, :fence, :started_at, :finished_at, :outcome,
        :error_class, :error_message, :status, :remote_id, :remote_url, :payload_sha256)
RETURNING id, delivery_id, number, worker, fence, started_at, finished_at, outcome,
          error_class, error_message, status, remote_id, remote_url, payload_sha256

-- name: replay
UPDATE deliveries SET state = 'pending', next_attempt_at = :now, tries = 0,
       cycle_started_at = NULL, updated_at = :now
WHERE {where}
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: filter_replay_error_class
last_error LIKE :error_prefix ESCAPE '\'

-- name: filter_states
state IN (SELECT value FROM json_each(:states))

-- name: filter_replay_notice
notice_pk IN (SELECT pk FROM notices WHERE id = :notice_id)

-- name: filter_replay_channel
channel = :channel

-- name: filter_replay_version
notice_pk IN (SELECT pk FROM notices WHERE id = :notice_id AND version = :version)

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
id = :delivery_id

-- name: filter_replay_since
updated_at >= :since

-- name: filter_replay_until
updated_at < :until

-- name: replay_count
SELECT COUNT(*) AS n FROM deliveries WHERE {where}

-- name: notice
SELECT id, version, category, notice_type, region_code, title, digest, content,
       accepted_at, publish_at, body_sanitized
FROM notices WHERE id = :id AND version = :version

-- name: notice_warnings
SELECT w.rule, w.message
FROM notice_warnings w JOIN notices n ON n.pk = w.notice_pk
WHERE n.id = :id AND n.version = :version
ORDER BY w.id

-- name: deliveries
SELECT d.id, n.id AS notice_id, n.version AS notice_version, d.channel, d.state, d.attempts,
       d.next_attempt_at, d.idempotency_key, d.remote_id, d.remote_url, d.last_error,
       d.updated_at, n.title, n.category, d.purpose
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY d.id
LIMIT :limit

-- name: lease_owners
SELECT DISTINCT lease_owner FROM deliveries
WHERE state = 'in_flight' AND lease_owner IS NOT NULL

-- name: expire_leases
-- The deliveries stay in flight: the next claim knows their outcome is in doubt.
UPDATE deliveries SET next_attempt_at = :now
WHERE state = 'in_flight' AND lease_owner = :owner AND next_attempt_at > :now

-- name: earlier_delivery
-- What the channel carries of the notice: the newest version delivered there (one
-- superseded, cancelled, failed or dead published nothing).
SELECT n.version, d.state, d.remote_id, d.remote_url
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = :notice_id AND n.version < :below AND d.channel = :channel
  AND d.purpose = 'publish' AND d.state = 'delivered'
ORDER BY n.version DESC
LIMIT 1

-- name: latest_version
SELECT MAX(version) AS version FROM notices WHERE id = :id

-- name: withdrawal
SELECT id, notice_id, version, reason, at, by FROM withdrawals WHERE notice_id = :notice_id

-- name: insert_withdrawal
INSERT INTO withdrawals (notice_id, version, reason, at, by)
VALUES (:notice_id, :version, :reason, :at, :by)
RETURNING id, notice_id, version, reason, at, by

-- name: earlier_channels
-- Every channel that has (or had) a publication of an earlier version: a new version follows.
SELECT d.channel, MIN(d.id) AS first_id
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = :id AND n.version < :version AND d.purpose = 'publish'
GROUP BY d.channel
ORDER BY first_id

-- name: supersede_earlier
-- Pending deliveries of earlier versions on the channels the new one goes to are not sent.
UPDATE deliveries SET state = 'superseded', updated_at = :now,
       last_error = 'superseded by version ' || :version
WHERE state = 'pending' AND channel IN (SELECT value FROM json_each(:channel_list))
  AND notice_pk IN (SELECT pk FROM notices WHERE id = :id AND version < :version)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: set_aside_if_overtaken
-- A delivery back to pending after an attempt, overtaken meanwhile: by a newer version on
-- its channel (superseded), or by a withdrawal of its notice (cancelled).
UPDATE deliveries SET
    state = CASE WHEN purpose <> 'withdrawal' AND EXISTS (
                     SELECT 1 FROM withdrawals w JOIN notices wn ON wn.id = w.notice_id
                     WHERE wn.pk = deliveries.notice_pk)
                 THEN 'cancelled' ELSE 'superseded' END,
    last_error = CASE WHEN purpose <> 'withdrawal' AND EXISTS (
                     SELECT 1 FROM withdrawals w JOIN notices wn ON wn.id = w.notice_id
                     WHERE wn.pk = deliveries.notice_pk)
                 THEN 'cancelled: the notice was withdrawn'
                 ELSE 'superseded by a newer version' END
WHERE id = :delivery_id AND state = 'pending' AND (
    (purpose <> 'withdrawal' AND EXISTS (
        SELECT 1 FROM withdrawals w JOIN notices wn ON wn.id = w.notice_id
        WHERE wn.pk = deliveries.notice_pk))
    OR EXISTS (
        SELECT 1 FROM deliveries e JOIN notices en ON en.pk = e.notice_pk
        JOIN notices mine ON mine.id = en.id
        WHERE mine.pk = deliveries.notice_pk AND en.version > mine.version
          AND e.channel = deliveries.channel AND e.purpose = 'publish'))
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: cancel_pending
-- A withdrawal: what has not gone out yet of any version does not go out.
UPDATE deliveries SET state = 'cancelled', updated_at = :now,
       last_error = 'cancelled: the notice was withdrawn'
WHERE state = 'pending' AND purpose <> 'withdrawal'
  AND notice_pk IN (SELECT pk FROM notices WHERE id = :id)
RETURNING id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
          last_error, purpose

-- name: carrying_channels
-- Channels where some version is published, or may be (an attempt under way): each is
-- asked to take the notice down.
SELECT d.channel, MIN(d.id) AS first_id
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE n.id = :id AND d.purpose = 'publish' AND d.state IN ('delivered', 'in_flight')
GROUP BY d.channel
ORDER BY first_id

-- name: filter_notice
n.id = :notice_id

-- name: filter_channel
d.channel = :channel

-- name: filter_state
d.state = :state

-- name: filter_outcome
a.outcome = :outcome

-- name: filter_since
a.started_at >= :since

-- name: filter_after
a.id > :cursor

-- name: filter_before
a.id < :cursor

-- name: attempts
-- One keyset page: a long export never holds the whole log in memory.
SELECT a.id, a.delivery_id, n.id AS notice_id, n.version AS notice_version, d.channel,
       a.number, a.worker, a.started_at, a.finished_at, a.outcome, a.error_class,
       a.error_message, a.status, a.remote_id, a.remote_url, a.payload_sha256
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY a.id {order}
LIMIT :limit

-- name: counts
-- Delivered is nearly every row of a big ledger: its count comes from the running tallies
-- (one increment per delivery that ends delivered); the other states are few, found by index.
SELECT channel, state, SUM(n) AS n FROM (
    SELECT channel, state, COUNT(*) AS n FROM deliveries INDEXED BY deliveries_state
    WHERE state IN ('pending', 'in_flight', 'failed', 'dead', 'superseded', 'cancelled')
      AND notice_pk NOT IN (SELECT pk FROM notices WHERE kind = 'alert')
    GROUP BY channel, state
    UNION ALL
    SELECT channel, 'delivered', SUM(delivered) FROM tallies
    WHERE channel != ''
    GROUP BY channel
    HAVING SUM(delivered) > 0
    UNION ALL
    -- withdrawals and expiries that went out: not publications, so not in the tallies
    SELECT channel, 'delivered', COUNT(*) FROM deliveries INDEXED BY deliveries_follow_up
    WHERE purpose <> 'publish' AND state = 'delivered'
    GROUP BY channel
)
GROUP BY channel, state

-- name: year_counts
SELECT category, channel, SUM(routed) AS routed, SUM(delivered) AS delivered
FROM tallies WHERE day >= :first_day AND day < :next_year
GROUP BY category, channel

-- name: next_due
SELECT next_attempt_at FROM deliveries INDEXED BY deliveries_next
WHERE state IN ('pending', 'in_flight') ORDER BY next_attempt_at LIMIT 1

-- name: next_due_work
-- The same, leaving out expiries scheduled after :now: waiting for a notice's valid_until
-- is not work left to do.
SELECT next_attempt_at FROM deliveries INDEXED BY deliveries_next
WHERE state IN ('pending', 'in_flight')
  AND NOT (purpose = 'expiry' AND state = 'pending' AND next_attempt_at > :now)
ORDER BY next_attempt_at LIMIT 1

-- name: data_version
PRAGMA data_version

-- name: set_circuit
INSERT INTO circuits (channel, state, failures, reopens_at, worker, updated_at, probe_until,
                      opened_at)
VALUES (:channel, :state, :failures, :reopens_at, :worker, :updated_at, :probe_until,
        :opened_at)
ON CONFLICT (channel) DO UPDATE SET
    state = excluded.state, failures = excluded.failures, reopens_at = excluded.reopens_at,
    worker = excluded.worker, updated_at = excluded.updated_at,
    probe_until = excluded.probe_until, opened_at = excluded.opened_at

-- name: close_circuit
-- Written only when there is something to close: a delivery costs no extra row write.
UPDATE circuits
SET state = 'closed', failures = 0, reopens_at = NULL, probe_until = NULL, opened_at = NULL,
    worker = :worker, updated_at = :updated_at
WHERE channel = :channel AND (state <> 'closed' OR failures > 0)

-- name: circuits
SELECT channel, state, failures, reopens_at, worker, updated_at, probe_until, opened_at
FROM circuits

-- name: circuit_of_channel
SELECT channel, state, failures, reopens_at, worker, updated_at, probe_until, opened_at
FROM circuits WHERE channel = :channel

-- name: release_probe
UPDATE circuits SET probe_until = NULL, updated_at = :now
WHERE channel = :channel AND state = 'half_open'

-- name: book_start
INSERT INTO channel_pace (channel, next_start) VALUES (:channel, :now + :interval)
ON CONFLICT (channel) DO UPDATE
    SET next_start = MAX(channel_pace.next_start, :now) + :interval
RETURNING next_start - :interval AS start_at

-- name: gate_of_channel
-- What a claim of the channel must respect: deliveries in flight under an
-- unexpired lease, any worker's, and the channel's circuit.
SELECT (SELECT COUNT(*) FROM deliveries
        WHERE channel = :channel AND state = 'in_flight' AND next_attempt_at > :now) AS in_flight,
       c.channel, c.state, c.failures, c.reopens_at, c.worker, c.updated_at, c.probe_until,
       c.opened_at
FROM (SELECT 1) AS one LEFT JOIN circuits c ON c.channel = :channel

-- name: integrity_check
PRAGMA integrity_check

-- name: foreign_key_check
PRAGMA foreign_key_check

-- name: live_token_named
SELECT 1 FROM tokens WHERE name = :name AND revoked_at IS NULL

-- name: insert_token
INSERT INTO tokens (id, name, scopes, secret_sha256, created_at)
VALUES (:id, :name, :scopes, :secret_sha256, :created_at)
RETURNING id, name, scopes, secret_sha256, created_at, revoked_at

-- name: token
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens WHERE id = :id

-- name: tokens
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens ORDER BY created_at, id

-- name: revoke_token
UPDATE tokens SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL
RETURNING id, name, scopes, secret_sha256, created_at, revoked_at

-- name: insert_operation
INSERT INTO operations (at, actor, action, subject) VALUES (:at, :actor, :action, :subject)
RETURNING id, at, actor, action, subject

-- name: operations
SELECT id, at, actor, action, subject FROM operations ORDER BY id DESC LIMIT :limit

-- The hash chain (see syndicate.store.chaining). Under BEGIN IMMEDIATE this
-- transaction is the only writer: reading the head is enough to hold it.

-- name: chain_head
SELECT seq, hash FROM chain_head WHERE id = 1

-- name: chain_head_locked
SELECT seq, hash FROM chain_head WHERE id = 1

-- name: set_chain_head
UPDATE chain_head SET seq = :seq, hash = :hash WHERE id = 1

-- name: insert_link
INSERT INTO chain (seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash)
VALUES (:seq, :at, :kind, :ref, :delivery, :body, :body_sha256, :prev_hash, :hash)

-- name: chain_links
SELECT seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash
FROM chain WHERE seq > :after ORDER BY seq LIMIT :limit

-- name: chain_link_hash
SELECT hash FROM chain WHERE seq = :seq

-- name: chain_links_of
SELECT seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash
FROM chain WHERE kind = :kind AND ref > :after ORDER BY ref LIMIT :limit

-- name: chain_last_states
-- The newest link of each delivery: the state the chain says it is in.
SELECT c.seq, c.at, c.kind, c.ref, c.delivery, c.body, c.body_sha256, c.prev_hash, c.hash
FROM chain c
WHERE c.seq IN (SELECT MAX(seq) FROM chain WHERE delivery > :after
                GROUP BY delivery ORDER BY delivery LIMIT :limit)
ORDER BY c.delivery

-- name: ledger_notices
-- Every column: the chain takes the ones it records by name, whichever migration added them.
SELECT *
FROM notices WHERE pk > :after ORDER BY pk LIMIT :limit

-- name: ledger_deliveries
SELECT id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
       last_error, purpose
FROM deliveries WHERE id > :after ORDER BY id LIMIT :limit

-- name: adopt_deliveries
-- Deliveries as a ledger had them when chaining began (version 4): no purpose yet.
SELECT id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
       last_error
FROM deliveries WHERE id > :after ORDER BY id LIMIT :limit

-- name: ledger_withdrawals
SELECT id, notice_id, version, reason, at, by
FROM withdrawals WHERE id > :after ORDER BY id LIMIT :limit

-- name: ledger_attempts
SELECT id, delivery_id, number, worker, fence, started_at, finished_at, outcome,
       error_class, error_message, status, remote_id, remote_url, payload_sha256
FROM attempts WHERE id > :after ORDER BY id LIMIT :limit

-- name: ledger_approval_requests
SELECT notice_pk, steps, step_count, channels
FROM approval_requests WHERE notice_pk > :after ORDER BY notice_pk LIMIT :limit

-- name: ledger_approvals
SELECT id, notice_pk, position, step, decision, approver, digest, comment, via, at
FROM approvals WHERE id > :after ORDER BY id LIMIT :limit

-- name: archived_attempts
SELECT attempt_id, archive FROM archived_attempts WHERE attempt_id > :after
ORDER BY attempt_id LIMIT :limit

-- Read models: newest first, one keyset page at a time.

-- name: filter_error_class
a.error_class = :error_class

-- name: filter_until
a.started_at < :until

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
       COALESCE(SUM(d.state = 'delivered'), 0) AS delivered,
       COALESCE(SUM(d.state IN ('pending', 'in_flight')), 0) AS unfinished,
       COALESCE(SUM(d.state IN ('failed', 'dead')), 0) AS ended_badly,
       COALESCE(SUM(d.state IN ('superseded', 'cancelled')), 0) AS set_aside,
       EXISTS (SELECT 1 FROM withdrawals w WHERE w.notice_id = n.id) AS withdrawn
FROM notices n LEFT JOIN deliveries d ON d.notice_pk = n.pk AND d.purpose = 'publish'
WHERE {where}
GROUP BY n.pk {having}
ORDER BY n.pk DESC
LIMIT :limit

-- name: having_publishing
HAVING NOT withdrawn AND unfinished > 0

-- name: having_published
HAVING NOT withdrawn AND unfinished = 0 AND ended_badly = 0 AND delivered > 0

-- name: having_partly_published
HAVING NOT withdrawn AND unfinished = 0 AND ended_badly > 0

-- name: having_superseded
HAVING NOT withdrawn AND unfinished = 0 AND ended_badly = 0 AND delivered = 0 AND set_aside > 0

-- name: having_withdrawn
HAVING withdrawn

-- name: filter_notices_only
-- Operator alerts are deliveries of their own, not notices the center published.
n.kind = 'notice'

-- name: filter_notice_version
n.version = :notice_version

-- name: filter_category
n.category = :category

-- name: filter_notice_type
n.notice_type = :notice_type

-- name: filter_region
n.region_code = :region

-- name: filter_region_prefix
n.region_code LIKE :region_prefix ESCAPE '\'

-- name: filter_routed_to
EXISTS (SELECT 1 FROM deliveries c WHERE c.notice_pk = n.pk AND c.channel = :channel)

-- name: filter_accepted_since
n.accepted_at >= :since

-- name: filter_accepted_until
n.accepted_at < :until

-- name: filter_text
(n.title LIKE :text ESCAPE '\' OR n.project_code LIKE :text ESCAPE '\')

-- name: filter_text_candidates
-- The notices the trigram index names for a text (see text_candidates); LIKE still decides.
n.pk IN (SELECT value FROM json_each(:text_pks))

-- name: text_candidates
-- Newest first, below a cursor: the index gives them in rowid order without reading the rest.
SELECT rowid AS pk FROM notice_text
WHERE notice_text MATCH :text_phrase AND rowid < :below
ORDER BY rowid DESC
LIMIT :chunk

-- name: filter_notice_before
n.pk < :cursor

-- name: notice_versions
SELECT id, version, category, notice_type, region_code, title, digest, content,
       accepted_at, publish_at, body_sanitized
FROM notices WHERE id = :id ORDER BY version

-- name: delivery_page
SELECT d.id, n.id AS notice_id, n.version AS notice_version, d.channel, d.state, d.attempts,
       d.next_attempt_at, d.idempotency_key, d.remote_id, d.remote_url, d.last_error,
       d.updated_at, n.title, n.category, d.purpose
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE {where}
ORDER BY d.id DESC
LIMIT :limit

-- name: filter_last_error_class
d.last_error LIKE :error_prefix ESCAPE '\'

-- name: filter_updated_since
d.updated_at >= :since

-- name: filter_updated_until
d.updated_at < :until

-- name: filter_delivery_before
d.id < :cursor

-- name: backlog
-- The oldest delivery counts from when it became due: accepted, or its embargo ended.
SELECT d.channel, COUNT(*) AS pending,
       MIN(CASE WHEN n.publish_at <= :now THEN MAX(n.accepted_at, n.publish_at) END) AS oldest_due_at
FROM deliveries d JOIN notices n ON n.pk = d.notice_pk
WHERE d.state IN ('pending', 'in_flight')
  AND NOT (d.purpose = 'expiry' AND d.state = 'pending' AND d.next_attempt_at > :now)
GROUP BY d.channel

-- name: attempt_outcomes
-- From the running tallies, to the minute: never a scan of the attempt log.
SELECT channel, outcome, SUM(n) AS n FROM attempt_tallies
WHERE minute >= :minute
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
VALUES (:minute, :channel, :outcome, :n)
ON CONFLICT (minute, channel, outcome) DO UPDATE SET n = attempt_tallies.n + excluded.n

-- name: note_failure
INSERT INTO channel_failures (channel, attempt_id) VALUES (:channel, :attempt_id)
ON CONFLICT (channel) DO UPDATE SET attempt_id = MAX(channel_failures.attempt_id, excluded.attempt_id)

-- name: pause
INSERT INTO pauses (channel, paused_at, paused_by) VALUES (:channel, :now, :by)
ON CONFLICT (channel) DO NOTHING
RETURNING channel, paused_at, paused_by

-- name: resume
DELETE FROM pauses WHERE channel = :channel
RETURNING channel, paused_at, paused_by

-- name: paused
SELECT channel, paused_at, paused_by FROM pauses

-- name: archivable_attempts
-- Attempts of ended deliveries only: a pending delivery's last attempt still decides
-- whether it is in doubt.
SELECT a.id, a.delivery_id, a.number, a.worker, a.fence, a.started_at, a.finished_at, a.outcome,
       a.error_class, a.error_message, a.status, a.remote_id, a.remote_url, a.payload_sha256
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.finished_at < :before
  AND d.state IN ('delivered', 'failed', 'dead', 'superseded', 'cancelled') AND a.id > :after
ORDER BY a.id LIMIT :limit

-- name: archive_count
SELECT COUNT(*) AS n FROM chain WHERE kind = 'archive'

-- name: chain_last_at
SELECT ref, MAX(at) AS at FROM chain WHERE kind = :kind GROUP BY ref

-- name: last_checks
-- Each delivery read back at or after :since, and when last, from the partial index of
-- checks (version 16). Named: with no statistics SQLite would take (kind, ref) instead and
-- walk every check ever chained. The kind is written out, as that index's WHERE says it.
SELECT ref, MAX(at) AS at FROM chain INDEXED BY chain_checks
WHERE kind = 'check' AND at >= :since GROUP BY ref

-- name: chain_last_ref
SELECT COALESCE(MAX(ref), 0) AS n FROM chain WHERE kind = :kind

-- name: ledger_warnings
SELECT id, notice_pk, rule, message FROM notice_warnings
WHERE id > :after ORDER BY id LIMIT :limit

-- name: ledger_operations
SELECT id, at, actor, action, subject FROM operations WHERE id > :after ORDER BY id LIMIT :limit

-- name: ledger_tokens
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens ORDER BY id

-- name: ledger_pauses
SELECT channel, paused_at, paused_by FROM pauses ORDER BY channel

-- name: insert_archived
INSERT INTO archived_attempts (attempt_id, archive) VALUES (:attempt_id, :archive)

-- name: delete_archived_attempt
DELETE FROM attempts WHERE id = :attempt_id

-- name: count_attempts_in
SELECT COUNT(*) AS n FROM attempts WHERE id IN (SELECT value FROM json_each(:ids))

-- name: failure_groups
-- last_error reads "ErrorClass: message"; the class is what a replay by group filters on.
SELECT channel, state,
       CASE WHEN instr(last_error, ': ') > 0
            THEN substr(last_error, 1, instr(last_error, ': ') - 1)
            ELSE COALESCE(last_error, '') END AS error_class,
       -- SQLite takes a bare column from the row that holds the MAX: the latest error.
       COUNT(*) AS deliveries, MAX(updated_at) AS latest_at, last_error AS latest_error
FROM deliveries INDEXED BY deliveries_state
WHERE state IN ('failed', 'dead')
GROUP BY channel, state, 3
ORDER BY deliveries DESC, channel

-- name: accepted_since
SELECT COUNT(*) AS n FROM notices WHERE accepted_at >= :since AND kind = 'notice'

-- Approval bound to content (see syndicate.approval). A notice that needs approval has an
-- approval request and no delivery until its last step is approved.

-- name: insert_approval_request
INSERT INTO approval_requests (notice_pk, steps, step_count, channels)
VALUES (:notice_pk, :steps, :step_count, :channels)
RETURNING notice_pk, steps, step_count, channels

-- name: approval_request
SELECT notice_pk, steps, step_count, channels FROM approval_requests WHERE notice_pk = :pk

-- name: approval_request_locked
-- Deciders of one notice queue here: the second sees the first's decision, never a duplicate.
SELECT notice_pk, steps, step_count, channels FROM approval_requests WHERE notice_pk = :pk

-- name: notice_to_decide
SELECT pk, id, version, category, publish_at, publish_day, digest, content
FROM notices WHERE id = :id AND version = :version

-- name: approvals_of
SELECT id, notice_pk, position, step, decision, approver, digest, comment, via, at
FROM approvals WHERE notice_pk = :pk ORDER BY position

-- name: insert_approval
INSERT INTO approvals (notice_pk, position, step, decision, approver, digest, comment, via, at)
VALUES (:notice_pk, :position, :step, :decision, :approver, :digest, :comment, :via, :at)
RETURNING id, notice_pk, position, step, decision, approver, digest, comment, via, at

-- name: approval_trails
SELECT n.version, r.steps, a.id, a.notice_pk, a.position, a.step, a.decision, a.approver,
       a.digest, a.comment, a.via, a.at
FROM approval_requests r JOIN notices n ON n.pk = r.notice_pk
LEFT JOIN approvals a ON a.notice_pk = r.notice_pk
WHERE n.id = :id
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
LIMIT :limit

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
WHERE n.publish_at >= :since AND n.publish_at < :until
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
