-- Points adopts the engine's front door (issue 8). Its trail now lives in
-- trail_events, where 0005 moved every points_events row (use case
-- 'points', subject and event unchanged), so the old table goes.
DROP TABLE IF EXISTS points_events;

-- A lot is a record the public relies on: whose points, how many, when
-- earned, made and due to expire, and the claim behind it. record_hash
-- covers those fields (ledger.RecordHash), so an edit in SQL is found by
-- verify. remaining is not covered: it changes with every spend and the
-- lots-vs-balances check holds it to the journal. Rows written before
-- this file are hashed by the use case's Go-side migration.
ALTER TABLE points_lots ADD COLUMN IF NOT EXISTS record_hash BYTEA;
