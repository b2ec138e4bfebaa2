-- One real-world behaviour earns once, whoever reports it and however they
-- round it (issue 10 part 1). A record may carry its interval: occurred_at
-- is its start (tap-in, unlock), ended_at its end (tap-out, lock). Two
-- records of one citizen whose intervals overlap by more than the
-- programme's tolerance, with kinds in one exclusivity group (one body, one
-- vehicle), are one event; step reports of kinds that are a per-day total
-- count their largest report of the day. The rules are versioned programme
-- rules (points_programme_rules), and a duplicate is now kept as a row that
-- names the record it duplicates, so the citizen and the operator can see
-- which report was credited.

-- The programme rules gain the identity rules. A version published before
-- this file has none: tolerance 0, no group, no per-day total; the province
-- publishes a new version to set them (seeded databases get them from the
-- seed of a fresh database).
ALTER TABLE points_programme_rules ADD COLUMN IF NOT EXISTS overlap_tolerance_seconds BIGINT NOT NULL DEFAULT 0
    CONSTRAINT points_programme_rules_tolerance_range CHECK (overlap_tolerance_seconds BETWEEN 0 AND 600);
-- [{"name": "travel", "kinds": ["bus", "cycling", "metro"]}, ...]
ALTER TABLE points_programme_rules ADD COLUMN IF NOT EXISTS exclusivity_groups JSONB NOT NULL DEFAULT '[]';
ALTER TABLE points_programme_rules ADD COLUMN IF NOT EXISTS daily_total_kinds TEXT[] NOT NULL DEFAULT '{}';

-- The end of a record's interval; NULL for a record of one instant (the
-- behaviour key alone identifies it, as before).
ALTER TABLE points_behaviours ADD COLUMN IF NOT EXISTS ended_at TIMESTAMPTZ;
-- The record a duplicate repeats, or the record a larger step total of the
-- same day tops up (then the row is credited with the difference only).
ALTER TABLE points_behaviours ADD COLUMN IF NOT EXISTS duplicate_of UUID;

-- A duplicate claims no behaviour key: the key belongs to the record it
-- duplicates. Every other row keeps one.
ALTER TABLE points_behaviours ALTER COLUMN behaviour_key DROP NOT NULL;
ALTER TABLE points_behaviours DROP CONSTRAINT IF EXISTS points_behaviours_status_valid;
ALTER TABLE points_behaviours ADD CONSTRAINT points_behaviours_status_valid CHECK (status IN ('credited', 'cap_reached', 'duplicate'));
ALTER TABLE points_behaviours DROP CONSTRAINT IF EXISTS points_behaviours_duplicate_shape;
ALTER TABLE points_behaviours ADD CONSTRAINT points_behaviours_duplicate_shape CHECK (
    (status = 'duplicate') = (behaviour_key IS NULL) AND (status <> 'duplicate' OR duplicate_of IS NOT NULL));
ALTER TABLE points_behaviours DROP CONSTRAINT IF EXISTS points_behaviours_interval_valid;
ALTER TABLE points_behaviours ADD CONSTRAINT points_behaviours_interval_valid CHECK (ended_at IS NULL OR ended_at > occurred_at);

-- The overlap query of ingest: a citizen's counted intervals starting in a
-- range (an interval is at most 24 hours long, so the range is bounded),
-- filtered by their end. Only rows that take part in identity are indexed.
CREATE INDEX IF NOT EXISTS points_behaviours_interval_idx ON points_behaviours (citizen_id, occurred_at, ended_at)
    WHERE ended_at IS NOT NULL AND status <> 'duplicate';
-- The duplicates of a credit, listed with it in the citizen's activity.
CREATE INDEX IF NOT EXISTS points_behaviours_duplicate_of_idx ON points_behaviours (duplicate_of) WHERE duplicate_of IS NOT NULL;
