-- Core double-entry schema. Portable subset of PostgreSQL 15 and CockroachDB:
-- none of the constructs CockroachDB lacks (ENGINEERING.md §3).
-- Journal tables (transactions, postings) are append-only: the application
-- never updates or deletes their rows, and `carbonledger verify` detects it
-- if anyone else does.

CREATE TABLE IF NOT EXISTS assets (
    code  TEXT PRIMARY KEY,
    scale BIGINT NOT NULL,
    name  TEXT NOT NULL,
    CONSTRAINT assets_scale_range CHECK (scale BETWEEN 0 AND 6)
);

-- One row per account. For holder (non-issuer) accounts this row is also the
-- balance: it is locked FOR UPDATE by every transaction that touches it, so
-- the per-account sequence (seq) is commit-ordered. Issuer accounts keep
-- their balance in issuer_shards instead, so that minting never queues on a
-- single row.
CREATE TABLE IF NOT EXISTS accounts (
    id             TEXT          PRIMARY KEY,
    asset          TEXT          NOT NULL REFERENCES assets (code),
    owner          TEXT          NOT NULL,
    type           TEXT          NOT NULL,
    issuer         BOOL          NOT NULL DEFAULT false,
    sharded        BOOL          NOT NULL DEFAULT false, -- issuers and credit-only sinks
    status         TEXT          NOT NULL DEFAULT 'active',
    metadata       JSONB         NOT NULL DEFAULT '{}',
    balance        NUMERIC(38,6) NOT NULL DEFAULT 0,
    pending_debits NUMERIC(38,6) NOT NULL DEFAULT 0,
    seq            BIGINT        NOT NULL DEFAULT 0,
    head_hash      BYTEA         NOT NULL,
    created_at     TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT accounts_id_length CHECK (length(id) BETWEEN 3 AND 200),
    CONSTRAINT accounts_status_valid CHECK (status IN ('active', 'frozen', 'closed')),
    CONSTRAINT accounts_not_nan CHECK (balance <> 'NaN' AND pending_debits <> 'NaN'),
    CONSTRAINT accounts_pending_nonnegative CHECK (pending_debits >= 0),
    CONSTRAINT accounts_no_overdraft CHECK (issuer OR balance - pending_debits >= 0)
);

CREATE INDEX IF NOT EXISTS accounts_owner_idx ON accounts (owner, id);

CREATE TABLE IF NOT EXISTS issuer_shards (
    account_id TEXT          NOT NULL REFERENCES accounts (id),
    shard      BIGINT        NOT NULL,
    balance    NUMERIC(38,6) NOT NULL DEFAULT 0,
    seq        BIGINT        NOT NULL DEFAULT 0,
    head_hash  BYTEA         NOT NULL,
    PRIMARY KEY (account_id, shard),
    CONSTRAINT issuer_shards_not_nan CHECK (balance <> 'NaN')
);

CREATE TABLE IF NOT EXISTS transactions (
    id              UUID        PRIMARY KEY,
    kind            TEXT        NOT NULL,
    actor           TEXT        NOT NULL,
    effective_at    TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    metadata        JSONB       NOT NULL DEFAULT '{}',
    corrects        UUID        REFERENCES transactions (id),
    resolves        UUID        REFERENCES transactions (id),
    pending         BOOL        NOT NULL DEFAULT false,
    expires_at      TIMESTAMPTZ,
    hash            BYTEA       NOT NULL,
    CONSTRAINT transactions_kind_length CHECK (length(kind) BETWEEN 1 AND 64)
);

-- A pending transaction is posted or voided at most once, whoever tries.
CREATE UNIQUE INDEX IF NOT EXISTS transactions_resolves_once ON transactions (resolves) WHERE resolves IS NOT NULL;
-- A transaction is reversed at most once.
CREATE UNIQUE INDEX IF NOT EXISTS transactions_reversed_once ON transactions (corrects) WHERE kind = 'reversal';

-- The open pending transactions with a timeout: a working set (not the
-- journal), a row removed when its transaction is posted or voided, so the
-- timeout sweep reads only what is still open.
CREATE TABLE IF NOT EXISTS pending_expiries (
    tx_id      UUID        PRIMARY KEY REFERENCES transactions (id),
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS pending_expiries_due ON pending_expiries (expires_at);

-- phase: 'posted' moves the balance; 'hold' reserves (negative amount raises
-- pending_debits) or announces an incoming amount; 'release' undoes a hold
-- when its pending transaction is posted or voided.
CREATE TABLE IF NOT EXISTS postings (
    account_id    TEXT          NOT NULL REFERENCES accounts (id),
    shard         BIGINT        NOT NULL,
    seq           BIGINT        NOT NULL,
    tx_id         UUID          NOT NULL REFERENCES transactions (id),
    idx           BIGINT        NOT NULL,
    asset         TEXT          NOT NULL,
    phase         TEXT          NOT NULL,
    amount        NUMERIC(38,6) NOT NULL,
    balance_after NUMERIC(38,6) NOT NULL,
    pending_after NUMERIC(38,6) NOT NULL,
    chain_hash    BYTEA         NOT NULL,
    created_at    TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (account_id, shard, seq),
    CONSTRAINT postings_phase_valid CHECK (phase IN ('posted', 'hold', 'release')),
    CONSTRAINT postings_amount_nonzero CHECK (amount <> 0 AND amount <> 'NaN')
);

CREATE UNIQUE INDEX IF NOT EXISTS postings_tx_idx ON postings (tx_id, idx);

-- The same key with the same input returns the stored response; with a
-- different input it is a conflict. Written in the same transaction as the
-- effect, so a crash between commit and response is resolved by replaying.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope        TEXT        NOT NULL,
    key          TEXT        NOT NULL,
    request_hash BYTEA       NOT NULL,
    response     TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

INSERT INTO assets (code, scale, name) VALUES
    ('CP', 0, 'carbon points (1 point = 1 g CO2e)'),
    ('CO2E', 0, 'recognised reductions, grams CO2e'),
    ('SDCER', 0, 'certified carbon-inclusion reductions, t CO2e'),
    ('CEI', 0, 'two-high carbon emission index, t CO2 per year'),
    ('CNY', 2, 'renminbi, yuan to the fen')
ON CONFLICT (code) DO NOTHING;
