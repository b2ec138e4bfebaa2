-- Registry corrections (issue 10 part 3).
--
-- 1. Offset caps come from an obligation the province records, not from a
--    figure the enterprise declares at its first offset. Every record and
--    revision is a row of registry_obligation_records (append-only, record
--    hashed); registry_obligations stays the row every offset of the year
--    locks, carrying the revision in force and the units surrendered so far.
--    revision 0 is a declaration by the enterprise written before this
--    migration: it is kept as history (revision 0 of the records, with its
--    surrendered units) but no new offset may use it until the province
--    records revision 1.
ALTER TABLE registry_obligations ADD COLUMN IF NOT EXISTS revision BIGINT NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS registry_obligation_records (
    enterprise                TEXT          NOT NULL,
    compliance_year           BIGINT        NOT NULL,
    revision                  BIGINT        NOT NULL,
    verified_emissions_tonnes NUMERIC(20,0),
    obligation_tonnes         NUMERIC(20,0) NOT NULL,
    cap_share                 NUMERIC(6,4)  NOT NULL,
    cap_units                 BIGINT        NOT NULL,
    policy_id                 TEXT          NOT NULL REFERENCES registry_policies (id),
    document_ref              TEXT          NOT NULL,
    reason                    TEXT          NOT NULL,
    recorded_by               TEXT          NOT NULL,
    recorded_at               TIMESTAMPTZ   NOT NULL,
    record_hash               BYTEA,
    PRIMARY KEY (enterprise, compliance_year, revision),
    CONSTRAINT registry_obligation_records_revision CHECK (revision >= 0),
    CONSTRAINT registry_obligation_records_by_province CHECK (revision = 0 OR (verified_emissions_tonnes IS NOT NULL AND document_ref <> '')),
    CONSTRAINT registry_obligation_records_amounts CHECK (obligation_tonnes <> 'NaN' AND obligation_tonnes > 0 AND cap_units >= 0
        AND (verified_emissions_tonnes IS NULL OR (verified_emissions_tonnes <> 'NaN' AND verified_emissions_tonnes > 0)))
);

-- The declarations made before this migration become revision 0 of their
-- obligation's history (hashed by the registry's Go-side migration).
INSERT INTO registry_obligation_records (enterprise, compliance_year, revision, verified_emissions_tonnes, obligation_tonnes, cap_share,
        cap_units, policy_id, document_ref, reason, recorded_by, recorded_at)
    SELECT enterprise, compliance_year, 0, NULL, obligation_tonnes, cap_share, cap_units, policy_id, '',
        'declared by the enterprise at its first offset, before the province recorded obligations', declared_by, declared_at
    FROM registry_obligations WHERE revision = 0
ON CONFLICT (enterprise, compliance_year, revision) DO NOTHING;

-- The revision each offset was made under (NULL: before this migration).
ALTER TABLE registry_offsets ADD COLUMN IF NOT EXISTS obligation_revision BIGINT;

-- 2. A trade keeps the serials it offered, whatever became of the offer.
--    ranges_recorded is false for trades offered before this migration
--    whose ranges the Go-side migration could not recover.
ALTER TABLE registry_trades ADD COLUMN IF NOT EXISTS ranges_recorded BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS registry_trade_ranges (
    trade_id   UUID   NOT NULL REFERENCES registry_trades (id),
    idx        BIGINT NOT NULL,
    programme  TEXT   NOT NULL,
    vintage    BIGINT NOT NULL,
    first_unit BIGINT NOT NULL,
    last_unit  BIGINT NOT NULL,
    serial_no  TEXT   NOT NULL,
    PRIMARY KEY (trade_id, idx),
    CONSTRAINT registry_trade_ranges_range CHECK (first_unit >= 1 AND last_unit >= first_unit)
);
