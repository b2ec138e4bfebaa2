-- The idempotency scheme: since version 2, a key's scope is the whole
-- principal (role, subject, organisation or city, foreign issuer), not
-- role:sub, and the items of an independent batch have keys of their own
-- namespace. Keys stored before are looked up where they were, among the
-- rows created before `since` (ledger/idempotency.go).
CREATE TABLE IF NOT EXISTS idempotency_scheme (
    version BIGINT      NOT NULL PRIMARY KEY,
    since   TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO idempotency_scheme (version) VALUES (2) ON CONFLICT (version) DO NOTHING;
