-- Certified reductions registry (issue 4): certification batches, unit-number
-- blocks, trades, retirements, offsets, cancellations. Balances live in the
-- engine's journal; these tables say WHICH unit numbers a balance is made
-- of, and keep the who/when/why of each decision. Portable subset: no
-- sequences (serials come from a counter row locked FOR UPDATE), no
-- triggers, no EXCLUDE constraints (block overlap is prevented in Go under
-- the holder lock, guarded by unique indexes, and checked by registry.Verify).

-- Versioned configuration. The policy in effect at time t is the row with
-- the latest valid_from <= t; each batch and obligation records the one it
-- used, so a decision can be re-checked.
CREATE TABLE IF NOT EXISTS registry_policies (
    id                            TEXT         PRIMARY KEY,
    valid_from                    TIMESTAMPTZ  NOT NULL,
    notice_days                   BIGINT          NOT NULL,
    offset_cap_share              NUMERIC(6,4) NOT NULL,
    trade_timeout_default_seconds BIGINT       NOT NULL,
    source                        TEXT         NOT NULL,
    created_by                    TEXT         NOT NULL,
    created_at                    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT registry_policies_notice_days CHECK (notice_days BETWEEN 0 AND 90),
    CONSTRAINT registry_policies_cap_share CHECK (offset_cap_share <> 'NaN' AND offset_cap_share >= 0 AND offset_cap_share <= 1),
    CONSTRAINT registry_policies_trade_timeout CHECK (trade_timeout_default_seconds BETWEEN 1 AND 2592000)
);

CREATE UNIQUE INDEX IF NOT EXISTS registry_policies_valid_from ON registry_policies (valid_from);

-- 5 % is the national offset rule [src]; 7 notice days and a 24 h trade
-- timeout are illustrative defaults [ill] until Shandong publishes its own.
INSERT INTO registry_policies (id, valid_from, notice_days, offset_cap_share, trade_timeout_default_seconds, source, created_by) VALUES
    ('default-2021', '2021-01-01T00:00:00Z', 7, 0.0500, 86400,
     'offset cap 5 pct: national ETS offset rule; notice days and trade timeout: illustrative defaults (DOMAIN.md 5.8)', 'migration')
ON CONFLICT (id) DO NOTHING;

-- Verification bodies the province has accredited.
CREATE TABLE IF NOT EXISTS registry_verifiers (
    org        TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    status     TEXT        NOT NULL DEFAULT 'active',
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_verifiers_status_valid CHECK (status IN ('active', 'suspended'))
);

-- One row per holder (enterprise or operator org). Every registry write
-- locks the rows of the holders it touches, in id order, before touching
-- their blocks or calling the engine, so a holder's blocks only change
-- under its row lock. status is the province's decision (freeze); the
-- engine account status follows it.
CREATE TABLE IF NOT EXISTS registry_holders (
    id         TEXT        PRIMARY KEY,
    status     TEXT        NOT NULL DEFAULT 'active',
    status_seq BIGINT      NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_holders_status_valid CHECK (status IN ('active', 'frozen'))
);

CREATE TABLE IF NOT EXISTS registry_batches (
    id               UUID          PRIMARY KEY,
    operator         TEXT          NOT NULL,
    methodology      TEXT          NOT NULL,
    period           TEXT          NOT NULL,
    pool_account     TEXT          NOT NULL,
    vintage          BIGINT           NOT NULL,
    sector           TEXT          NOT NULL,
    project          TEXT          NOT NULL,
    state            TEXT          NOT NULL,
    captured_grams   NUMERIC(38,0) NOT NULL,
    capture_tx       UUID          NOT NULL REFERENCES transactions (id),
    policy_id        TEXT          NOT NULL REFERENCES registry_policies (id),
    notice_days      BIGINT,
    notice_starts_at TIMESTAMPTZ,
    notice_ends_at   TIMESTAMPTZ,
    submitted_at     TIMESTAMPTZ,
    verifier         TEXT,
    assigned_at      TIMESTAMPTZ,
    approved_grams   NUMERIC(38,0),
    rejected_grams   NUMERIC(38,0),
    report_ref       TEXT,
    verified_at      TIMESTAMPTZ,
    approval_tx      UUID          REFERENCES transactions (id),
    issued_units     BIGINT,
    issue_tx         UUID          REFERENCES transactions (id),
    issued_at        TIMESTAMPTZ,
    withdrawn_at     TIMESTAMPTZ,
    withdraw_reason  TEXT,
    requested_by     TEXT          NOT NULL,
    created_at       TIMESTAMPTZ   NOT NULL,
    updated_at       TIMESTAMPTZ   NOT NULL,
    CONSTRAINT registry_batches_state_valid CHECK (state IN ('draft', 'notice', 'submitted', 'verified', 'issued', 'rejected', 'withdrawn')),
    CONSTRAINT registry_batches_grams CHECK (captured_grams <> 'NaN' AND captured_grams > 0),
    CONSTRAINT registry_batches_split CHECK (approved_grams IS NULL OR (approved_grams >= 0 AND rejected_grams >= 0 AND approved_grams + rejected_grams = captured_grams)),
    CONSTRAINT registry_batches_verifier_independent CHECK (verifier IS NULL OR verifier <> operator),
    CONSTRAINT registry_batches_issued CHECK (state <> 'issued' OR (issued_units > 0 AND issue_tx IS NOT NULL))
);

-- A pool has at most one batch in progress: its grams are captured once.
CREATE UNIQUE INDEX IF NOT EXISTS registry_batches_one_open_per_pool ON registry_batches (pool_account)
    WHERE state IN ('draft', 'notice', 'submitted', 'verified');
CREATE INDEX IF NOT EXISTS registry_batches_operator ON registry_batches (operator, created_at);

-- Unit numbers without sequences: one counter row per programme and
-- vintage, locked FOR UPDATE by the issuance that advances it.
CREATE TABLE IF NOT EXISTS registry_serial_counters (
    programme TEXT   NOT NULL,
    vintage   BIGINT    NOT NULL,
    next_unit BIGINT NOT NULL,
    PRIMARY KEY (programme, vintage),
    CONSTRAINT registry_serial_counters_next CHECK (next_unit >= 1)
);

-- One row per issued batch: the primary key makes a second issuance of the
-- same batch fail even if the state check were bypassed.
CREATE TABLE IF NOT EXISTS registry_issuances (
    batch_id   UUID        PRIMARY KEY REFERENCES registry_batches (id),
    programme  TEXT        NOT NULL,
    vintage    BIGINT         NOT NULL,
    first_unit BIGINT      NOT NULL,
    last_unit  BIGINT      NOT NULL,
    serial_number TEXT     NOT NULL,
    tx_id      UUID        NOT NULL REFERENCES transactions (id),
    issued_by  TEXT        NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_issuances_range CHECK (first_unit >= 1 AND last_unit >= first_unit),
    CONSTRAINT registry_issuances_serial_unique UNIQUE (serial_number),
    CONSTRAINT registry_issuances_first_unique UNIQUE (programme, vintage, first_unit)
);

-- Unit-number blocks [first_unit, last_unit] (inclusive). A held block belongs
-- to holder; a terminal block (retired, cancelled, surrendered) never
-- changes again and names the consumption that ended it. reserved_tx is
-- the pending trade transaction that reserves a held block: the block is
-- free again once that transaction is resolved (derived from the journal).
CREATE TABLE IF NOT EXISTS registry_blocks (
    id           UUID        PRIMARY KEY,
    programme    TEXT        NOT NULL,
    vintage      BIGINT         NOT NULL,
    first_unit   BIGINT      NOT NULL,
    last_unit    BIGINT      NOT NULL,
    batch_id     UUID        NOT NULL REFERENCES registry_batches (id),
    methodology  TEXT        NOT NULL,
    region       TEXT        NOT NULL,
    sector       TEXT        NOT NULL,
    project      TEXT        NOT NULL,
    holder       TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    reserved_tx  UUID,
    consumed_ref UUID,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_blocks_range CHECK (first_unit >= 1 AND last_unit >= first_unit),
    CONSTRAINT registry_blocks_status_valid CHECK (status IN ('held', 'retired', 'cancelled', 'surrendered')),
    CONSTRAINT registry_blocks_terminal CHECK ((status = 'held' AND consumed_ref IS NULL) OR (status <> 'held' AND consumed_ref IS NOT NULL AND reserved_tx IS NULL))
);

CREATE UNIQUE INDEX IF NOT EXISTS registry_blocks_first_unique ON registry_blocks (programme, vintage, first_unit);
CREATE UNIQUE INDEX IF NOT EXISTS registry_blocks_last_unique ON registry_blocks (programme, vintage, last_unit);
CREATE INDEX IF NOT EXISTS registry_blocks_held ON registry_blocks (holder, vintage, first_unit) WHERE status = 'held';
CREATE INDEX IF NOT EXISTS registry_blocks_reserved ON registry_blocks (reserved_tx) WHERE reserved_tx IS NOT NULL;
CREATE INDEX IF NOT EXISTS registry_blocks_consumed ON registry_blocks (consumed_ref) WHERE consumed_ref IS NOT NULL;

-- Append-only provenance of unit numbers: every range that left a holder
-- (to another holder or to a terminal status), with the journal
-- transaction that moved its balance.
CREATE TABLE IF NOT EXISTS registry_moves (
    tx_id       UUID        NOT NULL REFERENCES transactions (id),
    idx         BIGINT         NOT NULL,
    programme   TEXT        NOT NULL,
    vintage     BIGINT         NOT NULL,
    first_unit  BIGINT      NOT NULL,
    last_unit   BIGINT      NOT NULL,
    from_holder TEXT        NOT NULL,
    to_holder   TEXT        NOT NULL,
    to_status   TEXT        NOT NULL,
    moved_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tx_id, idx)
);

CREATE INDEX IF NOT EXISTS registry_moves_serial ON registry_moves (programme, vintage, first_unit);

-- Sales. Status is not stored: it is derived from whether pending_tx was
-- resolved, and how (see trade.go).
CREATE TABLE IF NOT EXISTS registry_trades (
    id             UUID          PRIMARY KEY,
    seller         TEXT          NOT NULL,
    buyer          TEXT          NOT NULL,
    units          BIGINT        NOT NULL,
    price_per_unit NUMERIC(20,2) NOT NULL,
    amount         NUMERIC(24,2) NOT NULL,
    pending_tx     UUID          NOT NULL REFERENCES transactions (id),
    payment_tx     UUID          REFERENCES transactions (id),
    expires_at     TIMESTAMPTZ   NOT NULL,
    created_by     TEXT          NOT NULL,
    created_at     TIMESTAMPTZ   NOT NULL,
    CONSTRAINT registry_trades_parties CHECK (seller <> buyer),
    CONSTRAINT registry_trades_units CHECK (units > 0),
    CONSTRAINT registry_trades_money CHECK (price_per_unit <> 'NaN' AND amount <> 'NaN' AND price_per_unit > 0 AND amount = price_per_unit * units),
    CONSTRAINT registry_trades_pending_unique UNIQUE (pending_tx)
);

CREATE INDEX IF NOT EXISTS registry_trades_seller ON registry_trades (seller, created_at);
CREATE INDEX IF NOT EXISTS registry_trades_buyer ON registry_trades (buyer, created_at);

CREATE TABLE IF NOT EXISTS registry_retirements (
    id          UUID        PRIMARY KEY,
    holder      TEXT        NOT NULL,
    vintage     BIGINT         NOT NULL,
    units       BIGINT      NOT NULL,
    purpose     TEXT        NOT NULL,
    beneficiary TEXT        NOT NULL,
    note        TEXT        NOT NULL,
    tx_id       UUID        NOT NULL REFERENCES transactions (id),
    retired_by  TEXT        NOT NULL,
    retired_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_retirements_units CHECK (units > 0),
    CONSTRAINT registry_retirements_purpose CHECK (purpose IN ('voluntary_neutrality', 'event_neutrality', 'public_institution', 'other'))
);

CREATE INDEX IF NOT EXISTS registry_retirements_holder ON registry_retirements (holder, retired_at);

-- The declared ETS obligation of an enterprise for a compliance year and
-- the cap it allows; the row is locked by every offset against it, and the
-- CHECK is the second line of defence behind the check in Go.
CREATE TABLE IF NOT EXISTS registry_obligations (
    enterprise        TEXT          NOT NULL,
    compliance_year   BIGINT           NOT NULL,
    obligation_tonnes NUMERIC(20,0) NOT NULL,
    cap_share         NUMERIC(6,4)  NOT NULL,
    cap_units         BIGINT        NOT NULL,
    surrendered_units BIGINT        NOT NULL DEFAULT 0,
    policy_id         TEXT          NOT NULL REFERENCES registry_policies (id),
    declared_by       TEXT          NOT NULL,
    declared_at       TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (enterprise, compliance_year),
    CONSTRAINT registry_obligations_positive CHECK (obligation_tonnes <> 'NaN' AND obligation_tonnes > 0),
    CONSTRAINT registry_obligations_within_cap CHECK (surrendered_units >= 0 AND surrendered_units <= cap_units)
);

CREATE TABLE IF NOT EXISTS registry_offsets (
    id              UUID        PRIMARY KEY,
    enterprise      TEXT        NOT NULL,
    compliance_year BIGINT         NOT NULL,
    units           BIGINT      NOT NULL,
    ets_reference   TEXT        NOT NULL,
    tx_id           UUID        NOT NULL REFERENCES transactions (id),
    offset_by       TEXT        NOT NULL,
    offset_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_offsets_units CHECK (units > 0)
);

CREATE INDEX IF NOT EXISTS registry_offsets_obligation ON registry_offsets (enterprise, compliance_year);

CREATE TABLE IF NOT EXISTS registry_cancellations (
    id           UUID        PRIMARY KEY,
    holder       TEXT        NOT NULL,
    units        BIGINT      NOT NULL,
    decision_ref TEXT        NOT NULL,
    reason       TEXT        NOT NULL,
    tx_id        UUID        NOT NULL REFERENCES transactions (id),
    cancelled_by TEXT        NOT NULL,
    cancelled_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_cancellations_units CHECK (units > 0)
);

-- Append-only trail of decisions: who, when, why.
CREATE TABLE IF NOT EXISTS registry_events (
    id      UUID        PRIMARY KEY,
    subject TEXT        NOT NULL,
    kind    TEXT        NOT NULL,
    actor   TEXT        NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    detail  JSONB       NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS registry_events_subject ON registry_events (subject, at);
