-- Personal carbon accounts (measure 8): methodology versions, operators,
-- entrustments, behaviour records, daily caps, lots, rewards, donations and
-- clawbacks. Balances live in the core journal (0001); these tables hold
-- the use case's configuration, its state and the links from every ledger
-- transaction back to the behaviour, lot, reward or case behind it.
-- Portable subset of PostgreSQL 15 and CockroachDB (see ENGINEERING.md §3).

-- A methodology version turns one behaviour record into grams CO2e. Rows are
-- never updated: a new version supersedes an older one from its valid_from
-- (the effective version for a behaviour is the one with the latest
-- valid_from not after the behaviour's time), so a result can always be
-- re-checked against the version it recorded.
CREATE TABLE IF NOT EXISTS points_methodologies (
    id                 TEXT          PRIMARY KEY,
    code               TEXT          NOT NULL,
    version            BIGINT           NOT NULL,
    kind               TEXT          NOT NULL,
    unit               TEXT          NOT NULL,
    factor_grams       NUMERIC(20,6) NOT NULL,
    quantity_scale     BIGINT           NOT NULL,
    quantity_max       NUMERIC(20,6) NOT NULL,
    record_cap_grams   BIGINT,
    daily_cap_grams    BIGINT,
    daily_cap_quantity NUMERIC(20,6),
    claim_window_days  BIGINT           NOT NULL,
    validity_days      BIGINT           NOT NULL,
    valid_from         TIMESTAMPTZ   NOT NULL,
    valid_to           TIMESTAMPTZ,
    source             TEXT          NOT NULL,
    created_by         TEXT          NOT NULL,
    created_at         TIMESTAMPTZ   NOT NULL,
    CONSTRAINT points_methodologies_code_version UNIQUE (code, version),
    CONSTRAINT points_methodologies_effective_once UNIQUE (kind, unit, valid_from),
    CONSTRAINT points_methodologies_factor_positive CHECK (factor_grams > 0 AND factor_grams <> 'NaN'),
    CONSTRAINT points_methodologies_quantity_positive CHECK (quantity_max > 0 AND quantity_max <> 'NaN'),
    CONSTRAINT points_methodologies_scale_range CHECK (quantity_scale BETWEEN 0 AND 3),
    CONSTRAINT points_methodologies_caps_positive CHECK ((record_cap_grams IS NULL OR record_cap_grams > 0)
        AND (daily_cap_grams IS NULL OR daily_cap_grams > 0)
        AND (daily_cap_quantity IS NULL OR (daily_cap_quantity > 0 AND daily_cap_quantity <> 'NaN'))),
    CONSTRAINT points_methodologies_windows CHECK (claim_window_days BETWEEN 1 AND 30 AND validity_days BETWEEN 1 AND 3650),
    CONSTRAINT points_methodologies_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from)
);

-- Programme-wide rules (all-behaviour daily cap, reporting window),
-- versioned exactly like methodologies.
CREATE TABLE IF NOT EXISTS points_programme_rules (
    version               BIGINT         PRIMARY KEY,
    daily_cap_grams       BIGINT      NOT NULL,
    reporting_window_days BIGINT         NOT NULL,
    valid_from            TIMESTAMPTZ NOT NULL,
    valid_to              TIMESTAMPTZ,
    source                TEXT        NOT NULL,
    created_by            TEXT        NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_programme_rules_effective_once UNIQUE (valid_from),
    CONSTRAINT points_programme_rules_cap_positive CHECK (daily_cap_grams > 0),
    CONSTRAINT points_programme_rules_window CHECK (reporting_window_days BETWEEN 1 AND 90),
    CONSTRAINT points_programme_rules_valid_range CHECK (valid_to IS NULL OR valid_to > valid_from)
);

CREATE TABLE IF NOT EXISTS points_operators (
    id         TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    kinds      TEXT[]      NOT NULL,
    status     TEXT        NOT NULL DEFAULT 'active',
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_operators_status_valid CHECK (status IN ('active', 'suspended'))
);

-- The citizen row is the lock every change to a citizen's lots takes
-- (claim, redemption, donation, expiry, clawback), so lots are consumed in
-- one order and never twice.
-- last_claim_at and last_lapse_at tell a late claim (points lapsed since
-- the last claim) from a claim with nothing to claim.
CREATE TABLE IF NOT EXISTS points_citizens (
    id            TEXT        PRIMARY KEY,
    created_by    TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_claim_at TIMESTAMPTZ,
    last_lapse_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS points_entrustments (
    citizen_id   TEXT        NOT NULL REFERENCES points_citizens (id),
    operator_id  TEXT        NOT NULL REFERENCES points_operators (id),
    active       BOOL        NOT NULL,
    entrusted_at TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    PRIMARY KEY (citizen_id, operator_id)
);

-- Append-only trail of configuration and entitlement changes: who, when, why.
CREATE TABLE IF NOT EXISTS points_events (
    id         UUID        PRIMARY KEY,
    action     TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    actor      TEXT        NOT NULL,
    detail     JSONB       NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS points_events_subject_idx ON points_events (subject, created_at);

-- One row per accepted behaviour record: credited, or cap_reached (recorded,
-- nothing credited). Rejected and duplicate records claim nothing and are
-- reported in the batch result only. behaviour_key is the real-world event
-- (see ledger/points/doc.go); it is unique across operators.
CREATE TABLE IF NOT EXISTS points_behaviours (
    id                 UUID          PRIMARY KEY,
    behaviour_key      BYTEA         NOT NULL,
    operator_id        TEXT          NOT NULL,
    operator_record_id TEXT          NOT NULL,
    citizen_id         TEXT          NOT NULL,
    kind               TEXT          NOT NULL,
    unit               TEXT          NOT NULL,
    quantity           NUMERIC(20,6) NOT NULL,
    occurred_at        TIMESTAMPTZ   NOT NULL,
    day                DATE          NOT NULL,
    methodology_id     TEXT          NOT NULL,
    rules_version      BIGINT           NOT NULL,
    status             TEXT          NOT NULL,
    computed_grams     BIGINT        NOT NULL,
    grams              BIGINT        NOT NULL,
    cap_reason         TEXT          NOT NULL DEFAULT '',
    tx_id              UUID,
    received_at        TIMESTAMPTZ   NOT NULL,
    claim_deadline     TIMESTAMPTZ,
    claim_state        TEXT,
    settled_tx_id      UUID,
    lot_id             UUID,
    reversed_by        UUID,
    CONSTRAINT points_behaviours_key_once UNIQUE (behaviour_key),
    CONSTRAINT points_behaviours_record_once UNIQUE (operator_id, operator_record_id),
    CONSTRAINT points_behaviours_status_valid CHECK (status IN ('credited', 'cap_reached')),
    CONSTRAINT points_behaviours_claim_state_valid CHECK (claim_state IS NULL OR claim_state IN ('pending', 'claimed', 'lapsed', 'reversed')),
    CONSTRAINT points_behaviours_grams CHECK (grams >= 0 AND grams <= computed_grams AND (status = 'credited') = (grams > 0))
);

CREATE INDEX IF NOT EXISTS points_behaviours_pending_idx ON points_behaviours (citizen_id, claim_deadline) WHERE claim_state = 'pending';
CREATE INDEX IF NOT EXISTS points_behaviours_due_idx ON points_behaviours (claim_deadline) WHERE claim_state = 'pending';
-- A credit transaction covers up to 61 citizens of one batch; this finds the
-- behaviours behind each of its postings (history, audits).
CREATE INDEX IF NOT EXISTS points_behaviours_tx_idx ON points_behaviours (tx_id, citizen_id);

-- Per citizen and day (China Standard Time): what was credited, in total
-- and per methodology scope ("kind/unit" -> {"g": grams, "q": quantity},
-- numbers as strings). Ingestion locks these rows, in key order, before it
-- computes caps. One row per citizen-day keeps the hot path to one lock and
-- one update per citizen.
CREATE TABLE IF NOT EXISTS points_daily_usage (
    citizen_id TEXT        NOT NULL,
    day        DATE        NOT NULL,
    grams      BIGINT      NOT NULL DEFAULT 0,
    records    BIGINT         NOT NULL DEFAULT 0,
    scopes     JSONB       NOT NULL DEFAULT '{}',
    PRIMARY KEY (citizen_id, day),
    CONSTRAINT points_daily_usage_nonnegative CHECK (grams >= 0 AND records >= 0)
);

-- Available points, one lot per claim (and validity): consumed oldest first
-- by earned_at. The sum of a citizen's remaining equals the balance of
-- citizen:{id}:CP:available.
CREATE TABLE IF NOT EXISTS points_lots (
    id         UUID        PRIMARY KEY,
    citizen_id TEXT        NOT NULL REFERENCES points_citizens (id),
    earned_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    points     BIGINT      NOT NULL,
    remaining  BIGINT      NOT NULL,
    claim_tx   UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_lots_remaining_range CHECK (points > 0 AND remaining >= 0 AND remaining <= points)
);

CREATE INDEX IF NOT EXISTS points_lots_open_idx ON points_lots (citizen_id, earned_at) WHERE remaining > 0;
CREATE INDEX IF NOT EXISTS points_lots_due_idx ON points_lots (expires_at) WHERE remaining > 0;

-- Append-only: every decrease of a lot, with the ledger transaction and why.
CREATE TABLE IF NOT EXISTS points_lot_moves (
    lot_id     UUID        NOT NULL REFERENCES points_lots (id),
    tx_id      UUID        NOT NULL,
    points     BIGINT      NOT NULL,
    reason     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (lot_id, tx_id),
    CONSTRAINT points_lot_moves_positive CHECK (points > 0),
    CONSTRAINT points_lot_moves_reason_valid CHECK (reason IN ('redeemed', 'donated', 'expired', 'reversed'))
);

CREATE TABLE IF NOT EXISTS points_rewards (
    id           TEXT        PRIMARY KEY,
    title        TEXT        NOT NULL,
    merchant     TEXT        NOT NULL,
    price_points BIGINT      NOT NULL,
    stock        BIGINT      NOT NULL,
    status       TEXT        NOT NULL DEFAULT 'active',
    created_by   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_rewards_price_positive CHECK (price_points > 0),
    CONSTRAINT points_rewards_stock_nonnegative CHECK (stock >= 0),
    CONSTRAINT points_rewards_status_valid CHECK (status IN ('active', 'withdrawn'))
);

CREATE TABLE IF NOT EXISTS points_redemptions (
    id         UUID        PRIMARY KEY,
    citizen_id TEXT        NOT NULL,
    reward_id  TEXT        NOT NULL REFERENCES points_rewards (id),
    points     BIGINT      NOT NULL,
    tx_id      UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS points_redemptions_citizen_idx ON points_redemptions (citizen_id, created_at);

CREATE TABLE IF NOT EXISTS points_donation_pools (
    id         TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    status     TEXT        NOT NULL DEFAULT 'approved',
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT points_donation_pools_status_valid CHECK (status IN ('approved', 'closed'))
);

CREATE TABLE IF NOT EXISTS points_donations (
    id         UUID        PRIMARY KEY,
    citizen_id TEXT        NOT NULL,
    pool_id    TEXT        NOT NULL REFERENCES points_donation_pools (id),
    points     BIGINT      NOT NULL,
    tx_id      UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS points_donations_citizen_idx ON points_donations (citizen_id, created_at);

CREATE TABLE IF NOT EXISTS points_clawbacks (
    id                 UUID        PRIMARY KEY,
    citizen_id         TEXT        NOT NULL,
    case_ref           TEXT        NOT NULL,
    reason             TEXT        NOT NULL,
    behaviours         BIGINT         NOT NULL,
    behaviour_grams    BIGINT      NOT NULL,
    reversed_pending   BIGINT      NOT NULL,
    reversed_available BIGINT      NOT NULL,
    reversed_grams     BIGINT      NOT NULL,
    tx_id              UUID,
    actor              TEXT        NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS points_clawbacks_citizen_idx ON points_clawbacks (citizen_id, created_at);
