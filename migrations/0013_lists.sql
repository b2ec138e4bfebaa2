-- The lists users need (issue 9): the registry's own record of transfers
-- between holders, and the indexes that let every list read a page by
-- its filter and its id order (newest first) rather than scan.

-- A transfer was only a journal transaction and its moves; the list of
-- transfers reads the registry's own table (a use case reads only its
-- own tables), filled here for the transfers made before it existed.
CREATE TABLE IF NOT EXISTS registry_transfers (
    tx_id          UUID        PRIMARY KEY REFERENCES transactions (id),
    from_holder    TEXT        NOT NULL,
    to_holder      TEXT        NOT NULL,
    units          BIGINT      NOT NULL,
    memo           TEXT        NOT NULL DEFAULT '',
    transferred_by TEXT        NOT NULL,
    transferred_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT registry_transfers_units CHECK (units > 0),
    CONSTRAINT registry_transfers_parties CHECK (from_holder <> to_holder)
);

INSERT INTO registry_transfers (tx_id, from_holder, to_holder, units, memo, transferred_by, transferred_at)
    SELECT t.id, t.metadata->>'from', t.metadata->>'to', m.units, COALESCE(t.metadata->>'memo', ''), t.actor, t.created_at
    FROM transactions t
    JOIN (SELECT tx_id, sum(last_unit - first_unit + 1) AS units FROM registry_moves GROUP BY tx_id) m ON m.tx_id = t.id
    WHERE t.kind = 'registry.transfer'
ON CONFLICT (tx_id) DO NOTHING;

CREATE INDEX IF NOT EXISTS registry_transfers_from ON registry_transfers (from_holder, tx_id);
CREATE INDEX IF NOT EXISTS registry_transfers_to ON registry_transfers (to_holder, tx_id);

CREATE INDEX IF NOT EXISTS registry_batches_state_id ON registry_batches (state, id);
CREATE INDEX IF NOT EXISTS registry_batches_operator_id ON registry_batches (operator, id);
CREATE INDEX IF NOT EXISTS registry_batches_verifier_id ON registry_batches (verifier, id) WHERE verifier IS NOT NULL;
CREATE INDEX IF NOT EXISTS registry_trades_seller_id ON registry_trades (seller, id);
CREATE INDEX IF NOT EXISTS registry_trades_buyer_id ON registry_trades (buyer, id);
CREATE INDEX IF NOT EXISTS registry_retirements_holder_id ON registry_retirements (holder, id);
CREATE INDEX IF NOT EXISTS registry_retirements_beneficiary_id ON registry_retirements (beneficiary, id);
CREATE INDEX IF NOT EXISTS registry_offsets_enterprise_id ON registry_offsets (enterprise, id);
CREATE INDEX IF NOT EXISTS registry_cancellations_holder_id ON registry_cancellations (holder, id);

CREATE INDEX IF NOT EXISTS quota_corrections_status_id ON quota_corrections (status, id);
CREATE INDEX IF NOT EXISTS quota_allocations_status_id ON quota_allocations (status, id);
CREATE INDEX IF NOT EXISTS quota_allocations_project_id ON quota_allocations (project, id);
CREATE INDEX IF NOT EXISTS quota_stockpilings_source ON quota_stockpilings (source_id, id);
CREATE INDEX IF NOT EXISTS quota_stockpilings_city_id ON quota_stockpilings (city, id);
CREATE INDEX IF NOT EXISTS quota_transfers_from_id ON quota_transfers (from_reserve, id);
CREATE INDEX IF NOT EXISTS quota_transfers_to_id ON quota_transfers (to_reserve, id);
CREATE INDEX IF NOT EXISTS quota_tranches_origin ON quota_tranches (origin_id) WHERE origin = 'transfer';

CREATE INDEX IF NOT EXISTS points_behaviours_operator_id ON points_behaviours (operator_id, id);
CREATE INDEX IF NOT EXISTS points_behaviours_day ON points_behaviours (day);
CREATE INDEX IF NOT EXISTS points_lot_moves_created ON points_lot_moves (created_at);

-- The journal by kind, for GET /v1/transactions?kind=… (one more index on
-- the journal's insert path; by actor is left to a scan of the newest
-- transactions, as only oversight filters by it).
CREATE INDEX IF NOT EXISTS transactions_kind_id ON transactions (kind, id);
