-- The change feed (issue 12; docs/events.md). A transactional outbox: every
-- write inserts its events in the same database transaction as its
-- effect, as one chunk (a feed_chunks row and its feed_events rows, ordinal
-- 0, 1, …) per statement that writes events, with no position. Positions
-- are assigned AFTER commit, by one relay at a time (the lease is the
-- 'relay' row of feed_cursors, taken FOR UPDATE SKIP LOCKED), which stamps
-- committed, unstamped chunks with consecutive position ranges: an event's
-- position is its chunk's first_position + its ordinal. A number assigned
-- inside concurrent writers would become visible out of commit order; one
-- assigned by the relay is visible only once every smaller one is.
-- Stamping a chunk, not each event, keeps the relay's writes per write
-- transaction, not per event, and event rows insert-only.
-- Engine tables: use cases emit through Writer.Emit, never by SQL.
CREATE TABLE IF NOT EXISTS feed_chunks (
    id             UUID        PRIMARY KEY,
    events         BIGINT      NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    first_position BIGINT,
    last_position  BIGINT,
    stamped_at     TIMESTAMPTZ,
    CONSTRAINT feed_chunks_first_unique UNIQUE (first_position),
    CONSTRAINT feed_chunks_events_positive CHECK (events > 0),
    CONSTRAINT feed_chunks_stamped CHECK ((first_position IS NULL) = (stamped_at IS NULL) AND (first_position IS NULL) = (last_position IS NULL)),
    CONSTRAINT feed_chunks_range CHECK (first_position IS NULL OR (first_position > 0 AND last_position = first_position + events - 1))
);

-- What the relay has left to stamp: small, since chunks leave it within a
-- relay period.
CREATE INDEX IF NOT EXISTS feed_chunks_unstamped ON feed_chunks (id) WHERE first_position IS NULL;

CREATE TABLE IF NOT EXISTS feed_events (
    chunk_id       UUID        NOT NULL,
    ordinal        BIGINT      NOT NULL,
    id             UUID        NOT NULL,
    type           TEXT        NOT NULL,
    schema_version BIGINT      NOT NULL,
    subject        TEXT        NOT NULL,
    visibility     TEXT[]      NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    body           TEXT        NOT NULL,
    PRIMARY KEY (chunk_id, ordinal),
    CONSTRAINT feed_events_ordinal_nonnegative CHECK (ordinal >= 0)
);

-- Named positions in the feed, one row each, locked by their owner:
--   relay   the highest position stamped (the feed's head),
--   pruned  every position up to this one was deleted by retention, so a
--           cursor older than it is cursor_expired,
--   nats:…, webhook:… a publisher's last delivered position (its lag).
CREATE TABLE IF NOT EXISTS feed_cursors (
    name       TEXT        PRIMARY KEY,
    position   BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT feed_cursors_position_nonnegative CHECK (position >= 0)
);

INSERT INTO feed_cursors (name, position, updated_at) VALUES ('relay', 0, now()) ON CONFLICT (name) DO NOTHING;

INSERT INTO feed_cursors (name, position, updated_at) VALUES ('pruned', 0, now()) ON CONFLICT (name) DO NOTHING;

-- Webhook subscriptions (docs/events.md): an organisation's (or the
-- province's) endpoint for the events it may see, filtered by type. Each
-- has its own feed_cursors row 'webhook:<id>': the fan-out job reads the
-- feed after it and queues one delivery per matching event. secrets holds
-- the signing secrets, newest first (two while a rotation is in
-- progress). consecutive_failures disables the webhook after a run.
CREATE TABLE IF NOT EXISTS feed_webhooks (
    id                   UUID        PRIMARY KEY,
    owner_role           TEXT        NOT NULL,
    owner_org            TEXT        NOT NULL,
    owner_city           TEXT        NOT NULL,
    url                  TEXT        NOT NULL,
    types                TEXT[]      NOT NULL,
    secrets              TEXT[]      NOT NULL,
    status               TEXT        NOT NULL,
    consecutive_failures BIGINT      NOT NULL,
    disabled_reason      TEXT        NOT NULL,
    created_by           TEXT        NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT feed_webhooks_status_valid CHECK (status IN ('active', 'disabled', 'deleted'))
);

CREATE INDEX IF NOT EXISTS feed_webhooks_owner ON feed_webhooks (owner_role, owner_org, owner_city);

-- The delivery log: one row per (webhook, event), its attempts and last
-- outcome. A pending row is due at next_attempt_at; the deliverer takes
-- it FOR UPDATE SKIP LOCKED and moves next_attempt_at past its HTTP
-- timeout (a lease), so a deliverer that dies mid-request is retried.
CREATE TABLE IF NOT EXISTS feed_webhook_deliveries (
    id              UUID        PRIMARY KEY,
    webhook_id      UUID        NOT NULL REFERENCES feed_webhooks (id),
    event_id        UUID        NOT NULL,
    position        BIGINT      NOT NULL,
    event_type      TEXT        NOT NULL,
    payload         TEXT        NOT NULL,
    status          TEXT        NOT NULL,
    attempts        BIGINT      NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status     BIGINT      NOT NULL,
    last_error      TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT feed_webhook_deliveries_once UNIQUE (webhook_id, event_id),
    CONSTRAINT feed_webhook_deliveries_status_valid CHECK (status IN ('pending', 'delivered', 'failed'))
);

CREATE INDEX IF NOT EXISTS feed_webhook_deliveries_due ON feed_webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE INDEX IF NOT EXISTS feed_webhook_deliveries_log ON feed_webhook_deliveries (webhook_id, position);
