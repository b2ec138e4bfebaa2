-- Measure 9 (issue 15): the index ledger is generic over index kinds.
-- CEI (two-high carbon emission index, measure 11) is one kind; the
-- pollutant totals of measure 9 (COD, NH3N = ammonia nitrogen NH3-N, NOX,
-- VOCS) are four more. Each kind is its own engine asset (a row of assets
-- with family 'index', never fungible with another) and a row of
-- quota_index_kinds (unit, formula, source document). The engine's chart
-- has one family of index shapes whose asset segment is the kind code
-- (ledger/chart.go), and the Ledger reads the assets table at New, so a
-- further kind is two INSERTs in a later migration: no code.
--
-- Existing rows are CEI: every new index_kind column defaults to 'CEI',
-- and existing reserve rows keep their names ('province', '3704'). The
-- reserves of other kinds are keyed '<KIND>:<reserve>' ('NOX:3703'); the
-- quota package creates them on first use.
--
-- Portable subset: no sequences, triggers or PL/pgSQL; each statement is
-- idempotent (a DROP CONSTRAINT IF EXISTS before its ADD CONSTRAINT).

ALTER TABLE assets ADD COLUMN IF NOT EXISTS family TEXT NOT NULL DEFAULT '';

UPDATE assets SET family = 'index' WHERE code = 'CEI' AND family = '';

-- Scale 0: the quota tables store whole tonnes per year (NUMERIC(30,0)).
INSERT INTO assets (code, scale, name, family) VALUES
    ('COD', 0, 'chemical oxygen demand total-emission index, t per year', 'index'),
    ('NH3N', 0, 'ammonia nitrogen (NH3-N) total-emission index, t per year', 'index'),
    ('NOX', 0, 'nitrogen oxides total-emission index, t per year', 'index'),
    ('VOCS', 0, 'volatile organic compounds total-emission index, t per year', 'index')
ON CONFLICT (code) DO NOTHING;

-- formula: how an application's requirement is computed.
--   coefficient  ceil(new annual emissions × sector coefficient) (CEI)
--   ratio        ceil(new annual emissions × replacement ratio of the
--                project's city, else the province-wide ratio) (倍量替代)
CREATE TABLE IF NOT EXISTS quota_index_kinds (
    code       TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    unit       TEXT        NOT NULL,
    formula    TEXT        NOT NULL,
    measure    TEXT        NOT NULL,
    source_doc TEXT        NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    CONSTRAINT quota_index_kinds_formula_valid CHECK (formula IN ('coefficient', 'ratio')),
    CONSTRAINT quota_index_kinds_source_doc_length CHECK (length(source_doc) BETWEEN 1 AND 512)
);

INSERT INTO quota_index_kinds (code, name, unit, formula, measure, source_doc, valid_from) VALUES
    ('CEI', 'two-high carbon emission index 碳排放指标', 't CO2/yr', 'coefficient', '11', '山东省"两高"建设项目碳排放指标收储调剂管理办法（试行）; 碳排放减量替代办法', TIMESTAMPTZ '2021-01-01 00:00:00+08'),
    ('COD', 'chemical oxygen demand 化学需氧量', 't/yr', 'ratio', '9', 'measure 9: total-emission quota of major pollutants follows the project (要素跟着项目走)', TIMESTAMPTZ '2021-01-01 00:00:00+08'),
    ('NH3N', 'ammonia nitrogen 氨氮 (NH3-N)', 't/yr', 'ratio', '9', 'measure 9: total-emission quota of major pollutants follows the project (要素跟着项目走)', TIMESTAMPTZ '2021-01-01 00:00:00+08'),
    ('NOX', 'nitrogen oxides 氮氧化物', 't/yr', 'ratio', '9', 'measure 9: total-emission quota of major pollutants follows the project (要素跟着项目走)', TIMESTAMPTZ '2021-01-01 00:00:00+08'),
    ('VOCS', 'volatile organic compounds 挥发性有机物', 't/yr', 'ratio', '9', 'measure 9: total-emission quota of major pollutants follows the project (要素跟着项目走)', TIMESTAMPTZ '2021-01-01 00:00:00+08')
ON CONFLICT (code) DO NOTHING;

-- Configuration per kind; 'ratio' is the replacement ratio (subject = a
-- city code, or '' for the province-wide default).
ALTER TABLE quota_config ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_config DROP CONSTRAINT IF EXISTS quota_config_kind_valid;

ALTER TABLE quota_config ADD CONSTRAINT quota_config_kind_valid CHECK (kind IN ('split', 'coefficient', 'threshold', 'price', 'ratio'));

CREATE UNIQUE INDEX IF NOT EXISTS quota_config_start_once_per_kind ON quota_config (index_kind, kind, subject, valid_from);

DROP INDEX IF EXISTS quota_config_start_once CASCADE;

-- Sources per kind. A source of route 'key_reduction_work' is an entry of
-- the list of key emission-reduction works (重点减排工程): work names the
-- work, formed_on is its completion date, verification_ref its verification.
ALTER TABLE quota_sources ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_sources ADD COLUMN IF NOT EXISTS work TEXT NOT NULL DEFAULT '';

ALTER TABLE quota_sources ADD COLUMN IF NOT EXISTS verification_ref TEXT NOT NULL DEFAULT '';

-- One closure frees CO2 and NOx alike: evidence is unique per kind.
CREATE UNIQUE INDEX IF NOT EXISTS quota_sources_evidence_once_per_kind ON quota_sources (index_kind, enterprise, evidence_ref) WHERE status <> 'rejected';

DROP INDEX IF EXISTS quota_sources_evidence_once CASCADE;

ALTER TABLE quota_reserves ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_reserves ADD COLUMN IF NOT EXISTS reserve TEXT NOT NULL DEFAULT '';

UPDATE quota_reserves SET reserve = name WHERE reserve = '';

-- One application per kind; the applications of one request for several
-- kinds share bundle_id and are reviewed, decided and allocated together.
ALTER TABLE quota_applications ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_applications ADD COLUMN IF NOT EXISTS bundle_id UUID;

CREATE INDEX IF NOT EXISTS quota_applications_bundle_idx ON quota_applications (bundle_id) WHERE bundle_id IS NOT NULL;

ALTER TABLE quota_allocations ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_transfers ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI' REFERENCES quota_index_kinds (code);

ALTER TABLE quota_movements ADD COLUMN IF NOT EXISTS index_kind TEXT NOT NULL DEFAULT 'CEI';

ALTER TABLE quota_movements DROP CONSTRAINT IF EXISTS quota_movements_flow_valid;

ALTER TABLE quota_movements ADD CONSTRAINT quota_movements_flow_valid CHECK (flow IN ('recognised', 'stockpiled', 'allocated', 'consumed', 'recovered', 'transferred_out', 'transferred_in', 'corrected_up', 'corrected_down', 'project_moved'));

-- The quota follows the project (要素跟着项目走): a project's moves
-- between cities, oldest first; the allocations stay with the project and
-- their draws (lineage) are untouched.
CREATE TABLE IF NOT EXISTS quota_project_moves (
    id         UUID        PRIMARY KEY,
    project    TEXT        NOT NULL REFERENCES quota_projects (id),
    from_city  TEXT        NOT NULL,
    to_city    TEXT        NOT NULL,
    reason     TEXT        NOT NULL,
    created_by TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT quota_project_moves_distinct CHECK (from_city <> to_city)
);

CREATE INDEX IF NOT EXISTS quota_project_moves_project_idx ON quota_project_moves (project, id);
