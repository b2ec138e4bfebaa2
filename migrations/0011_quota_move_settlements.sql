-- Measure 9 (issue 15): when a project moves to another city, the quota
-- follows it (quota_project_moves, migration 0010) and, where the rule
-- 'move_settles_reserve' of the kind says so (value 1), the city it moves
-- to repays the reserve of the city it left what that city contributed to
-- the project's live allocations. The repayment is an ordinary reserve
-- transfer (quota_transfers, with its tranches, so lineage is intact), and
-- quota_move_settlements records which allocation's contribution each
-- transfer settled, so that a later move settles only what is still owed.
--
-- Portable subset: no sequences, triggers or PL/pgSQL; each statement is
-- idempotent (a DROP CONSTRAINT IF EXISTS before its ADD CONSTRAINT).

ALTER TABLE quota_config DROP CONSTRAINT IF EXISTS quota_config_kind_valid;

ALTER TABLE quota_config ADD CONSTRAINT quota_config_kind_valid CHECK (kind IN ('split', 'coefficient', 'threshold', 'price', 'ratio', 'move_settles_reserve'));

-- payer and payee are reserve keys of the allocation's kind (see
-- quota_reserves.name): payer the reserve of the city the project moved
-- to, payee that of the city it left.
CREATE TABLE IF NOT EXISTS quota_move_settlements (
    move_id       UUID          NOT NULL REFERENCES quota_project_moves (id),
    allocation_id UUID          NOT NULL REFERENCES quota_allocations (id),
    index_kind    TEXT          NOT NULL REFERENCES quota_index_kinds (code),
    payer         TEXT          NOT NULL REFERENCES quota_reserves (name),
    payee         TEXT          NOT NULL REFERENCES quota_reserves (name),
    tonnes        NUMERIC(30,0) NOT NULL,
    transfer_id   UUID          NOT NULL REFERENCES quota_transfers (id),
    rule_version  UUID          NOT NULL REFERENCES quota_config (id),
    created_at    TIMESTAMPTZ   NOT NULL,
    PRIMARY KEY (move_id, allocation_id),
    CONSTRAINT quota_move_settlements_valid CHECK (payer <> payee AND tonnes > 0)
);

CREATE INDEX IF NOT EXISTS quota_move_settlements_allocation_idx ON quota_move_settlements (allocation_id);

CREATE INDEX IF NOT EXISTS quota_move_settlements_transfer_idx ON quota_move_settlements (transfer_id);
