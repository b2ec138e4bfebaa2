-- Quota adopts the engine's front door (issue 8). Its trail is the
-- engine's trail_events (use case 'quota', subject '<kind>:<id>'), into
-- which migration 0005 has already moved every quota_events row, so the
-- old trail tables go.
DROP TABLE IF EXISTS quota_event_heads;

DROP TABLE IF EXISTS quota_events;

-- An allocation is a record the public relies on: record_hash covers its
-- fields that never change (ledger.RecordHash, ledger/quota/records.go).
-- Rows written before this column are hashed by the use case's Go-side
-- migration (quota.UseCase.Migrate).
ALTER TABLE quota_allocations ADD COLUMN IF NOT EXISTS record_hash BYTEA;
