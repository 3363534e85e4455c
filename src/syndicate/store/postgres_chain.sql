-- The hash chain's queries for PostgreSQL (see syndicate.store.chaining), by the
-- same names as SQLite's. The PostgreSQL store loads these beside its own.
-- chain_head_locked takes the one head row FOR UPDATE: a second writer waits for
-- the first to commit, so links are numbered in commit order across workers.

-- name: chain_head
SELECT seq, hash FROM chain_head WHERE id = 1

-- name: chain_head_locked
SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE

-- name: set_chain_head
UPDATE chain_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1

-- name: insert_link
INSERT INTO chain (seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash)
VALUES (%(seq)s, %(at)s, %(kind)s, %(ref)s, %(delivery)s, %(body)s, %(body_sha256)s,
        %(prev_hash)s, %(hash)s)

-- name: chain_links
SELECT seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash
FROM chain WHERE seq > %(after)s ORDER BY seq LIMIT %(limit)s

-- name: chain_link_hash
SELECT hash FROM chain WHERE seq = %(seq)s

-- name: chain_links_of
SELECT seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash
FROM chain WHERE kind = %(kind)s AND ref > %(after)s ORDER BY ref LIMIT %(limit)s

-- name: chain_last_states
SELECT DISTINCT ON (delivery) seq, at, kind, ref, delivery, body, body_sha256, prev_hash, hash
FROM chain WHERE delivery > %(after)s
ORDER BY delivery, seq DESC
LIMIT %(limit)s

-- name: ledger_notices
-- Every column: the chain takes the ones it records by name, whichever migration added them.
SELECT *
FROM notices WHERE pk > %(after)s ORDER BY pk LIMIT %(limit)s

-- name: ledger_deliveries
SELECT id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
       last_error, purpose
FROM deliveries WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: adopt_deliveries
-- Deliveries as a ledger had them when chaining began (version 4): no purpose yet.
SELECT id, notice_pk, channel, idempotency_key, state, attempts, remote_id, remote_url,
       last_error
FROM deliveries WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: ledger_withdrawals
SELECT id, notice_id, version, reason, at, by
FROM withdrawals WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: ledger_attempts
SELECT id, delivery_id, number, worker, fence, started_at, finished_at, outcome,
       error_class, error_message, status, remote_id, remote_url, payload_sha256
FROM attempts WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: ledger_approval_requests
SELECT notice_pk, steps, step_count, channels
FROM approval_requests WHERE notice_pk > %(after)s ORDER BY notice_pk LIMIT %(limit)s

-- name: ledger_approvals
SELECT id, notice_pk, position, step, decision, approver, digest, comment, via, at
FROM approvals WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: archived_attempts
SELECT attempt_id, archive FROM archived_attempts WHERE attempt_id > %(after)s
ORDER BY attempt_id LIMIT %(limit)s

-- name: archivable_attempts
SELECT a.id, a.delivery_id, a.number, a.worker, a.fence, a.started_at, a.finished_at, a.outcome,
       a.error_class, a.error_message, a.status, a.remote_id, a.remote_url, a.payload_sha256
FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
WHERE a.finished_at < %(before)s
  AND d.state IN ('delivered', 'failed', 'dead', 'superseded', 'cancelled')
  AND a.id > %(after)s
ORDER BY a.id LIMIT %(limit)s

-- name: archive_count
SELECT COUNT(*) AS n FROM chain WHERE kind = 'archive'

-- name: chain_last_at
SELECT ref, MAX(at) AS at FROM chain WHERE kind = %(kind)s GROUP BY ref

-- name: last_checks
-- Each delivery read back at or after since, and when last (the partial index of version 16).
SELECT ref, MAX(at) AS at FROM chain WHERE kind = 'check' AND at >= %(since)s GROUP BY ref

-- name: chain_last_ref
SELECT COALESCE(MAX(ref), 0) AS n FROM chain WHERE kind = %(kind)s

-- name: ledger_warnings
SELECT id, notice_pk, rule, message FROM notice_warnings
WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: ledger_operations
SELECT id, at, actor, action, subject FROM operations
WHERE id > %(after)s ORDER BY id LIMIT %(limit)s

-- name: ledger_tokens
SELECT id, name, scopes, secret_sha256, created_at, revoked_at FROM tokens ORDER BY id

-- name: ledger_pauses
SELECT channel, paused_at, paused_by FROM pauses ORDER BY channel

-- name: insert_archived
INSERT INTO archived_attempts (attempt_id, archive) VALUES (%(attempt_id)s, %(archive)s)

-- name: delete_archived_attempt
DELETE FROM attempts WHERE id = %(attempt_id)s

-- name: count_attempts_in
SELECT COUNT(*) AS n FROM attempts
WHERE id IN (SELECT value::bigint FROM json_array_elements_text(%(ids)s::json) AS value)
