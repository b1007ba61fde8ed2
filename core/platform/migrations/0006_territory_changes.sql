-- Territory change sets: every assignment change (map edit, bulk import, bulk delete) is one
-- change set with one item per row added to or removed from zip_assignments, so the last change
-- can be undone exactly (removed rows come back with their original assigned_at / assigned_by).

CREATE SEQUENCE territory_changes_id_seq START 1;
CREATE TABLE territory_changes (
    id              BIGINT PRIMARY KEY DEFAULT nextval('territory_changes_id_seq'),
    kind            VARCHAR NOT NULL,         -- assign, unassign, import, delete
    workspace_id    INTEGER,                  -- the client the change was made for, if one
    summary         VARCHAR NOT NULL,
    added           INTEGER NOT NULL DEFAULT 0,
    removed         INTEGER NOT NULL DEFAULT 0,
    actor           VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    undone_at       TIMESTAMPTZ,
    undone_by       VARCHAR
);

CREATE TABLE territory_change_items (
    change_id       BIGINT NOT NULL,
    op              VARCHAR NOT NULL CHECK (op IN ('add', 'remove')),
    zip             VARCHAR NOT NULL,
    workspace_id    INTEGER NOT NULL,
    assigned_at     TIMESTAMPTZ,              -- for 'remove': the row as it was before
    assigned_by     VARCHAR
);
