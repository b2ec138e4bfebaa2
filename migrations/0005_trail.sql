-- One trail for every use case (issue 8): who, when, why and what, per
-- subject, numbered under the subject's head row and hash-chained by the
-- engine (ledger/trail.go). It replaces points_events, registry_events and
-- quota_events, whose rows are moved here: points' and registry's events
-- were not chained, quota's were (in its own format); all are re-sealed in
-- the one format by the engine at start-up (sealLegacyTrail), so the rows
-- are copied with an empty hash. Copies are keyed, so running this file
-- again after a crash copies nothing twice.
CREATE TABLE IF NOT EXISTS trail_events (
    use_case   TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    seq        BIGINT      NOT NULL,
    event      TEXT        NOT NULL,
    actor      TEXT        NOT NULL,
    actor_org  TEXT        NOT NULL DEFAULT '',
    actor_city TEXT        NOT NULL DEFAULT '',
    reason     TEXT        NOT NULL DEFAULT '',
    body       JSONB       NOT NULL,
    tx_id      UUID,
    at         TIMESTAMPTZ NOT NULL,
    prev_hash  BYTEA       NOT NULL,
    hash       BYTEA       NOT NULL,
    PRIMARY KEY (use_case, subject, seq),
    CONSTRAINT trail_events_seq_positive CHECK (seq > 0)
);

CREATE TABLE IF NOT EXISTS trail_heads (
    use_case TEXT   NOT NULL,
    subject  TEXT   NOT NULL,
    seq      BIGINT NOT NULL,
    head     BYTEA  NOT NULL,
    PRIMARY KEY (use_case, subject)
);

INSERT INTO trail_events (use_case, subject, seq, event, actor, body, at, prev_hash, hash)
SELECT 'points', subject, row_number() OVER (PARTITION BY subject ORDER BY created_at, id), action, actor, detail, created_at, ''::BYTEA, ''::BYTEA
FROM points_events
ON CONFLICT (use_case, subject, seq) DO NOTHING;

INSERT INTO trail_events (use_case, subject, seq, event, actor, body, at, prev_hash, hash)
SELECT 'registry', subject, row_number() OVER (PARTITION BY subject ORDER BY at, id), kind, actor, detail, at, ''::BYTEA, ''::BYTEA
FROM registry_events
ON CONFLICT (use_case, subject, seq) DO NOTHING;

INSERT INTO trail_events (use_case, subject, seq, event, actor, actor_org, actor_city, reason, body, tx_id, at, prev_hash, hash)
SELECT 'quota', subject_kind || ':' || subject_id::TEXT, seq, action, actor, actor_org, actor_city, reason, detail, tx_id, at, ''::BYTEA, ''::BYTEA
FROM quota_events
ON CONFLICT (use_case, subject, seq) DO NOTHING;

-- Finds the events still to be sealed at start-up without a scan.
CREATE INDEX IF NOT EXISTS trail_events_unsealed ON trail_events (use_case, subject) WHERE hash = ''::BYTEA;
