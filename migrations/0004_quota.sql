-- Two-high carbon emission indices (issue 5, package ledger/quota):
-- recognition of sources, stockpiling into reserves, reallocation to
-- projects. Balances live in the core journal (accounts/postings); these
-- tables hold the workflow state, the versioned configuration, the lineage
-- of every tonne (tranches and draws) and an append-only, hash-chained
-- trail of who changed what, when and why.
--
-- Portable subset (PostgreSQL 15 / CockroachDB): no sequences, triggers,
-- PL/pgSQL or advisory locks (ENGINEERING.md §3). Tonnes are whole
-- (CEI scale 0); money is yuan to the fen.

-- Versioned configuration. kind:
--   split       value = the province's percentage of a stockpiling (the city
--               reserve takes the rest)
--   coefficient value = sector coefficient (subject = sector)
--   threshold   value = tonnes above which the provincial government must approve
--   price       value = yuan per tonne for paid reallocation
-- The version in force at t is the one with the latest valid_from <= t
-- whose valid_to is NULL or > t. Publishing a new version closes the open
-- one at the new valid_from.
CREATE TABLE IF NOT EXISTS quota_config (
    id          UUID          PRIMARY KEY,
    kind        TEXT          NOT NULL,
    subject     TEXT          NOT NULL DEFAULT '',
    value       NUMERIC(20,6) NOT NULL,
    valid_from  TIMESTAMPTZ   NOT NULL,
    valid_to    TIMESTAMPTZ,
    source_doc  TEXT          NOT NULL,
    created_by  TEXT          NOT NULL,
    created_at  TIMESTAMPTZ   NOT NULL,
    CONSTRAINT quota_config_kind_valid CHECK (kind IN ('split', 'coefficient', 'threshold', 'price')),
    CONSTRAINT quota_config_value_valid CHECK (value <> 'NaN' AND value >= 0),
    CONSTRAINT quota_config_window_valid CHECK (valid_to IS NULL OR valid_to > valid_from),
    CONSTRAINT quota_config_source_doc_length CHECK (length(source_doc) BETWEEN 1 AND 512)
);

CREATE UNIQUE INDEX IF NOT EXISTS quota_config_start_once ON quota_config (kind, subject, valid_from);

-- One row per reserve ('province' or a Shandong city code). The row is the
-- reserve's lock: every operation that changes the reserve's tranches locks
-- it first (in name order), and next_seq numbers the tranches in commit
-- order, which is what FIFO means here.
CREATE TABLE IF NOT EXISTS quota_reserves (
    name     TEXT   PRIMARY KEY,
    account  TEXT   NOT NULL,
    next_seq BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT quota_reserves_account_unique UNIQUE (account)
);

CREATE TABLE IF NOT EXISTS quota_sources (
    id             UUID          PRIMARY KEY,
    city           TEXT          NOT NULL,
    enterprise     TEXT          NOT NULL,
    route          TEXT          NOT NULL,
    tonnes         NUMERIC(30,0) NOT NULL,
    formed_on      DATE          NOT NULL,
    evidence_ref   TEXT          NOT NULL,
    status         TEXT          NOT NULL,
    unstockpiled   NUMERIC(30,0) NOT NULL DEFAULT 0,
    corrected      NUMERIC(30,0) NOT NULL DEFAULT 0,
    proposed_by    TEXT          NOT NULL,
    proposed_at    TIMESTAMPTZ   NOT NULL,
    decided_by     TEXT,
    decided_at     TIMESTAMPTZ,
    recognition_tx UUID,
    CONSTRAINT quota_sources_status_valid CHECK (status IN ('proposed', 'recognised', 'rejected')),
    CONSTRAINT quota_sources_tonnes_positive CHECK (tonnes > 0 AND tonnes <> 'NaN'),
    CONSTRAINT quota_sources_unstockpiled_valid CHECK (unstockpiled >= 0 AND unstockpiled <> 'NaN'),
    CONSTRAINT quota_sources_formed_valid CHECK (formed_on >= DATE '2021-01-01')
);

-- The same evidence cannot back two live sources of one enterprise.
CREATE UNIQUE INDEX IF NOT EXISTS quota_sources_evidence_once ON quota_sources (enterprise, evidence_ref) WHERE status <> 'rejected';
CREATE INDEX IF NOT EXISTS quota_sources_city_idx ON quota_sources (city, id);
CREATE INDEX IF NOT EXISTS quota_sources_enterprise_idx ON quota_sources (enterprise, id);

CREATE TABLE IF NOT EXISTS quota_stockpilings (
    id             UUID          PRIMARY KEY,
    source_id      UUID          NOT NULL REFERENCES quota_sources (id),
    tonnes         NUMERIC(30,0) NOT NULL,
    province_tonnes NUMERIC(30,0) NOT NULL,
    city_tonnes    NUMERIC(30,0) NOT NULL,
    city           TEXT          NOT NULL,
    split_version  UUID          NOT NULL REFERENCES quota_config (id),
    split_percent  NUMERIC(20,6) NOT NULL,
    tx_id          UUID          NOT NULL,
    created_by     TEXT          NOT NULL,
    created_at     TIMESTAMPTZ   NOT NULL,
    CONSTRAINT quota_stockpilings_sum CHECK (province_tonnes + city_tonnes = tonnes AND tonnes > 0 AND province_tonnes >= 0 AND city_tonnes >= 0)
);

-- Lineage: a tranche is a lot of one source's tonnes in one reserve.
-- Stockpiling creates tranches; draws (allocations, transfers out,
-- corrections down) take from the open tranches of a reserve oldest first
-- (FIFO by seq); transfers in, recoveries and corrections up create new
-- tranches at the tail that name their parent. The sum of remaining over a
-- reserve's tranches equals the reserve account's balance.
CREATE TABLE IF NOT EXISTS quota_tranches (
    id         UUID          PRIMARY KEY,
    reserve    TEXT          NOT NULL REFERENCES quota_reserves (name),
    seq        BIGINT        NOT NULL,
    source_id  UUID          NOT NULL REFERENCES quota_sources (id),
    origin     TEXT          NOT NULL,
    origin_id  UUID          NOT NULL,
    parent_id  UUID          REFERENCES quota_tranches (id),
    tonnes     NUMERIC(30,0) NOT NULL,
    remaining  NUMERIC(30,0) NOT NULL,
    tx_id      UUID          NOT NULL,
    created_at TIMESTAMPTZ   NOT NULL,
    CONSTRAINT quota_tranches_origin_valid CHECK (origin IN ('stockpiling', 'transfer', 'recovery', 'correction')),
    CONSTRAINT quota_tranches_amounts_valid CHECK (tonnes > 0 AND remaining >= 0 AND remaining <= tonnes AND remaining <> 'NaN'),
    CONSTRAINT quota_tranches_seq_unique UNIQUE (reserve, seq)
);

CREATE INDEX IF NOT EXISTS quota_tranches_open_idx ON quota_tranches (reserve, seq) WHERE remaining > 0;
CREATE INDEX IF NOT EXISTS quota_tranches_source_idx ON quota_tranches (source_id);

CREATE TABLE IF NOT EXISTS quota_projects (
    id         TEXT        PRIMARY KEY,
    enterprise TEXT        NOT NULL,
    city       TEXT        NOT NULL,
    sector     TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS quota_applications (
    id                  UUID          PRIMARY KEY,
    project             TEXT          NOT NULL REFERENCES quota_projects (id),
    enterprise          TEXT          NOT NULL,
    city                TEXT          NOT NULL,
    sector              TEXT          NOT NULL,
    emissions           NUMERIC(30,0) NOT NULL,
    breakdown           JSONB         NOT NULL DEFAULT '{}',
    coefficient         NUMERIC(20,6) NOT NULL,
    coefficient_version UUID          NOT NULL REFERENCES quota_config (id),
    required            NUMERIC(30,0) NOT NULL,
    own_sources         NUMERIC(30,0) NOT NULL,
    own_sources_ref     TEXT          NOT NULL,
    gap                 NUMERIC(30,0) NOT NULL,
    requested           NUMERIC(30,0) NOT NULL,
    status              TEXT          NOT NULL,
    threshold           NUMERIC(30,0),
    threshold_version   UUID          REFERENCES quota_config (id),
    escalated           BOOL          NOT NULL DEFAULT false,
    created_by          TEXT          NOT NULL,
    created_at          TIMESTAMPTZ   NOT NULL,
    updated_at          TIMESTAMPTZ   NOT NULL,
    CONSTRAINT quota_applications_status_valid CHECK (status IN ('submitted', 'city_approved', 'awaiting_government', 'government_approved', 'approved', 'rejected')),
    CONSTRAINT quota_applications_amounts_valid CHECK (emissions > 0 AND own_sources >= 0 AND gap > 0 AND requested > 0 AND requested <= gap AND required = gap + own_sources)
);

CREATE INDEX IF NOT EXISTS quota_applications_enterprise_idx ON quota_applications (enterprise, id);
CREATE INDEX IF NOT EXISTS quota_applications_city_idx ON quota_applications (city, id);

CREATE TABLE IF NOT EXISTS quota_allocations (
    id             UUID          PRIMARY KEY,
    application_id UUID          NOT NULL REFERENCES quota_applications (id),
    project        TEXT          NOT NULL REFERENCES quota_projects (id),
    tonnes         NUMERIC(30,0) NOT NULL,
    paid           BOOL          NOT NULL,
    price          NUMERIC(20,2),
    price_version  UUID          REFERENCES quota_config (id),
    amount_cny     NUMERIC(38,2) NOT NULL DEFAULT 0,
    refunded_cny   NUMERIC(38,2) NOT NULL DEFAULT 0,
    status         TEXT          NOT NULL,
    tx_id          UUID          NOT NULL,
    closed_tx      UUID,
    created_at     TIMESTAMPTZ   NOT NULL,
    closed_at      TIMESTAMPTZ,
    CONSTRAINT quota_allocations_one_per_application UNIQUE (application_id),
    CONSTRAINT quota_allocations_status_valid CHECK (status IN ('allocated', 'consumed', 'recovered')),
    CONSTRAINT quota_allocations_amounts_valid CHECK (tonnes > 0 AND amount_cny >= 0 AND refunded_cny >= 0 AND refunded_cny <= amount_cny)
);

-- One row per tranche piece an allocation took: the allocation's lineage.
CREATE TABLE IF NOT EXISTS quota_draws (
    allocation_id UUID          NOT NULL REFERENCES quota_allocations (id),
    idx           BIGINT           NOT NULL,
    reserve       TEXT          NOT NULL REFERENCES quota_reserves (name),
    tranche_id    UUID          NOT NULL REFERENCES quota_tranches (id),
    source_id     UUID          NOT NULL REFERENCES quota_sources (id),
    tonnes        NUMERIC(30,0) NOT NULL,
    PRIMARY KEY (allocation_id, idx),
    CONSTRAINT quota_draws_tonnes_positive CHECK (tonnes > 0)
);

CREATE TABLE IF NOT EXISTS quota_transfers (
    id           UUID          PRIMARY KEY,
    from_reserve TEXT          NOT NULL REFERENCES quota_reserves (name),
    to_reserve   TEXT          NOT NULL REFERENCES quota_reserves (name),
    tonnes       NUMERIC(30,0) NOT NULL,
    reason       TEXT          NOT NULL,
    tx_id        UUID          NOT NULL,
    created_by   TEXT          NOT NULL,
    created_at   TIMESTAMPTZ   NOT NULL,
    CONSTRAINT quota_transfers_distinct CHECK (from_reserve <> to_reserve AND tonnes > 0)
);

-- Maker-checker corrections of a recognised source: holder is 'source'
-- (the enterprise's unstockpiled balance) or a reserve name; delta is
-- signed (negative writes tonnes back to recognition).
CREATE TABLE IF NOT EXISTS quota_corrections (
    id          UUID          PRIMARY KEY,
    source_id   UUID          NOT NULL REFERENCES quota_sources (id),
    holder      TEXT          NOT NULL,
    delta       NUMERIC(30,0) NOT NULL,
    reason      TEXT          NOT NULL,
    status      TEXT          NOT NULL,
    proposed_by TEXT          NOT NULL,
    proposed_at TIMESTAMPTZ   NOT NULL,
    decided_by  TEXT,
    decided_at  TIMESTAMPTZ,
    tx_id       UUID,
    CONSTRAINT quota_corrections_status_valid CHECK (status IN ('proposed', 'applied', 'rejected')),
    CONSTRAINT quota_corrections_delta_nonzero CHECK (delta <> 0 AND delta <> 'NaN'),
    CONSTRAINT quota_corrections_checker_differs CHECK (decided_by IS NULL OR decided_by <> proposed_by)
);

-- Every CEI movement split by source, denormalised for reports: flows by
-- period, reserve, city, route and sector. Append-only.
CREATE TABLE IF NOT EXISTS quota_movements (
    id            UUID          PRIMARY KEY,
    at            TIMESTAMPTZ   NOT NULL,
    flow          TEXT          NOT NULL,
    tonnes        NUMERIC(30,0) NOT NULL,
    reserve       TEXT          NOT NULL DEFAULT '',
    source_id     UUID          NOT NULL REFERENCES quota_sources (id),
    source_city   TEXT          NOT NULL,
    route         TEXT          NOT NULL,
    enterprise    TEXT          NOT NULL,
    project       TEXT          NOT NULL DEFAULT '',
    project_city  TEXT          NOT NULL DEFAULT '',
    sector        TEXT          NOT NULL DEFAULT '',
    allocation_id UUID,
    amount_cny    NUMERIC(38,2) NOT NULL DEFAULT 0,
    op_id         UUID          NOT NULL,
    tx_id         UUID          NOT NULL,
    CONSTRAINT quota_movements_flow_valid CHECK (flow IN ('recognised', 'stockpiled', 'allocated', 'consumed', 'recovered', 'transferred_out', 'transferred_in', 'corrected_up', 'corrected_down')),
    CONSTRAINT quota_movements_tonnes_positive CHECK (tonnes > 0 AND tonnes <> 'NaN')
);

CREATE INDEX IF NOT EXISTS quota_movements_at_idx ON quota_movements (at);
CREATE INDEX IF NOT EXISTS quota_movements_allocation_idx ON quota_movements (allocation_id) WHERE allocation_id IS NOT NULL;

-- The trail: every state change with who, when and why, per subject
-- (source, application, stockpiling, transfer, correction, config),
-- numbered under the subject's lock and hash-chained, so a changed,
-- removed or inserted event is detected by VerifyTrail. Append-only.
CREATE TABLE IF NOT EXISTS quota_events (
    subject_id   UUID        NOT NULL,
    seq          BIGINT      NOT NULL,
    subject_kind TEXT        NOT NULL,
    action       TEXT        NOT NULL,
    actor        TEXT        NOT NULL,
    actor_org    TEXT        NOT NULL,
    actor_city   TEXT        NOT NULL,
    reason       TEXT        NOT NULL,
    detail       JSONB       NOT NULL,
    tx_id        UUID,
    at           TIMESTAMPTZ NOT NULL,
    prev_hash    BYTEA       NOT NULL,
    hash         BYTEA       NOT NULL,
    PRIMARY KEY (subject_id, seq)
);

CREATE TABLE IF NOT EXISTS quota_event_heads (
    subject_id UUID   PRIMARY KEY,
    seq        BIGINT NOT NULL,
    head       BYTEA  NOT NULL
);
