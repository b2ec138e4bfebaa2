-- Signed checkpoints (issue 10, part 2; docs/checkpoints.md). The journal's
-- hash chains catch an edit in the middle, but not a cut at the end rolled
-- back consistently, nor a rewrite of a whole chain: only the root digest
-- changes, and nothing stored a root. A checkpoint stores, signed with the
-- service's Ed25519 key, the journal's high-water mark; verification then
-- finds any posting or trail event a checkpoint covered that is gone or
-- different. All three tables are append-only: rows are inserted once and
-- never updated or deleted by the application.

-- One row per checkpoint. number is previous + 1, made unique by the
-- constraint below, so two replicas taking one at the same moment cannot
-- both succeed (the loser retries or skips). header and body are the exact
-- JSON texts that were signed (as a JWS: BASE64URL(header) '.'
-- BASE64URL(body)); hash is SHA-256 of that signing input, and the next
-- checkpoint's body names it as prev.
CREATE TABLE IF NOT EXISTS checkpoints (
    id        UUID        PRIMARY KEY,
    number    BIGINT      NOT NULL,
    taken_at  TIMESTAMPTZ NOT NULL,
    kid       TEXT        NOT NULL,
    prev_hash BYTEA       NOT NULL,
    hash      BYTEA       NOT NULL,
    header    TEXT        NOT NULL,
    body      TEXT        NOT NULL,
    signature BYTEA       NOT NULL,
    CONSTRAINT checkpoints_number_unique UNIQUE (number),
    CONSTRAINT checkpoints_number_positive CHECK (number > 0)
);

-- The chain heads (account, shard) that changed since the previous
-- checkpoint, as of this one: only the changes, so a checkpoint costs rows
-- in proportion to the activity since the last, not to the chart's size.
CREATE TABLE IF NOT EXISTS checkpoint_heads (
    checkpoint_id UUID   NOT NULL REFERENCES checkpoints (id),
    account_id    TEXT   NOT NULL,
    shard         BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    hash          BYTEA  NOT NULL,
    PRIMARY KEY (checkpoint_id, account_id, shard)
);

-- "Was this chain already recorded at its current seq?" — the probe that
-- finds the changed chains when the next checkpoint is taken.
CREATE INDEX IF NOT EXISTS checkpoint_heads_chain ON checkpoint_heads (account_id, shard, seq);

-- The same for the trail: subjects whose head changed since the previous
-- checkpoint.
CREATE TABLE IF NOT EXISTS checkpoint_trail_heads (
    checkpoint_id UUID   NOT NULL REFERENCES checkpoints (id),
    use_case      TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    hash          BYTEA  NOT NULL,
    PRIMARY KEY (checkpoint_id, use_case, subject)
);

CREATE INDEX IF NOT EXISTS checkpoint_trail_heads_subject ON checkpoint_trail_heads (use_case, subject, seq);
