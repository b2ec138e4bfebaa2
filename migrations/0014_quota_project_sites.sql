-- Measure 9 (issue 15): a project may be sited across two (or more)
-- cities. quota_project_sites holds its sites, each city's share of the
-- project, after a partial move; a project without rows here is sited
-- wholly in quota_projects.city, which stays the project's primary city
-- (the site with the largest share). A move records the share of the whole
-- project it moved (1 for a whole move, the only kind before this
-- migration).
--
-- Portable subset: no sequences, triggers or PL/pgSQL; each statement is
-- idempotent.

CREATE TABLE IF NOT EXISTS quota_project_sites (
    project TEXT         NOT NULL REFERENCES quota_projects (id),
    city    TEXT         NOT NULL,
    share   NUMERIC(5,4) NOT NULL,
    PRIMARY KEY (project, city),
    CONSTRAINT quota_project_sites_share_valid CHECK (share > 0 AND share <= 1)
);

CREATE INDEX IF NOT EXISTS quota_project_sites_city_idx ON quota_project_sites (city, project);

ALTER TABLE quota_project_moves ADD COLUMN IF NOT EXISTS share NUMERIC(5,4) NOT NULL DEFAULT 1;

ALTER TABLE quota_project_moves DROP CONSTRAINT IF EXISTS quota_project_moves_share_valid;

ALTER TABLE quota_project_moves ADD CONSTRAINT quota_project_moves_share_valid CHECK (share > 0 AND share <= 1);
