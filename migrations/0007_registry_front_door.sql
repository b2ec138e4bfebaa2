-- The registry through the engine's front door (issue 8).
--
-- Its trail now lives in the engine's trail_events (use case 'registry',
-- subjects unchanged); migration 0005 moved the old rows there, so the old
-- table goes.
DROP TABLE IF EXISTS registry_events;

-- Records the public relies on carry a digest of what they show
-- (ledger.RecordHash), set when they are written and recomputed by the
-- registry's record_hash check. Rows written before this migration are
-- hashed by the registry's Go-side migration (UseCase.Migrate).
ALTER TABLE registry_retirements ADD COLUMN IF NOT EXISTS record_hash BYTEA;
ALTER TABLE registry_issuances ADD COLUMN IF NOT EXISTS record_hash BYTEA;
