-- Verification runs (issue 11). A routine `carbonledger verify` checks only
-- what was written since the last clean verification; this table is where
-- that point is kept, and where an unfinished full verification keeps its
-- progress so that it can be resumed. It is a working table, not part of
-- the journal: rows are updated while a run is in progress.
--
-- mark_at: a run that found the journal clean vouches for every
-- transaction whose (time-ordered, UUIDv7) id was made before mark_at;
-- the next incremental run checks the transactions made from mark_at on.
-- It is the run's start less an overlap longer than any write
-- transaction lives, so a transaction that committed after the run began
-- is checked again next time, never skipped.
CREATE TABLE IF NOT EXISTS verify_runs (
    id          UUID        PRIMARY KEY,
    mode        TEXT        NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    mark_at     TIMESTAMPTZ NOT NULL,
    journal_ok  BOOL        NOT NULL DEFAULT false,
    problems    BIGINT      NOT NULL DEFAULT 0,
    postings    BIGINT      NOT NULL DEFAULT 0,
    state       TEXT        NOT NULL DEFAULT '',
    CONSTRAINT verify_runs_mode_valid CHECK (mode IN ('full', 'incremental'))
);

-- The newest clean run: where the next incremental run starts.
CREATE INDEX IF NOT EXISTS verify_runs_clean ON verify_runs (mark_at) WHERE journal_ok;
