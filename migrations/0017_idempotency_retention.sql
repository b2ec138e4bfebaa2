-- Idempotency keys have a retention (Options.IdempotencyRetention, default
-- 90 days): the prune-idempotency-keys job deletes keys older than that, a
-- bounded batch at a time, oldest first. This index serves that sweep; it
-- grows at its right edge (created_at is the insert time), so it costs a
-- write little.
--
-- Portable subset: no sequences, triggers or PL/pgSQL; idempotent.

CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);
