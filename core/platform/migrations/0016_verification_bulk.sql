-- One Debounce price. `verification_cost_per_1000_cents` (Revenue's) and
-- `debounce_cost_per_1000_cents` (the pipeline's) priced the same thing differently; the one
-- kept is `debounce_cost_per_1000_cents`. A value set for the other moves to it unless it was set
-- itself.
INSERT INTO settings (name, value, updated_at, updated_by)
SELECT 'debounce_cost_per_1000_cents', value, now(), updated_by FROM settings
WHERE name = 'verification_cost_per_1000_cents'
  AND NOT EXISTS (SELECT 1 FROM settings WHERE name = 'debounce_cost_per_1000_cents');
DELETE FROM settings WHERE name = 'verification_cost_per_1000_cents';

-- Debounce bulk lists of a verification run, one row per list (at most 200,000 addresses each):
-- the contacts it holds (an id range of the run's contacts waiting in `verifying`), Debounce's
-- list id as soon as the upload is accepted, so a run stopped while Debounce works picks the
-- same list up again instead of paying for it twice.
CREATE SEQUENCE verification_lists_id_seq START 1;
CREATE TABLE verification_lists (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('verification_lists_id_seq'),
    verification_run_id BIGINT NOT NULL,
    workspace_id        INTEGER NOT NULL,
    renewal_month       DATE NOT NULL,
    first_contact_id    BIGINT NOT NULL,
    last_contact_id     BIGINT NOT NULL,
    addresses           INTEGER NOT NULL,
    path                VARCHAR NOT NULL,          -- where LeadOps serves it (unguessable)
    list_id             VARCHAR,                   -- Debounce's, once uploaded
    status              VARCHAR NOT NULL DEFAULT 'waiting',  -- waiting, uploaded, done, failed
    percentage          INTEGER NOT NULL DEFAULT 0,
    error               VARCHAR,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    uploaded_at         TIMESTAMPTZ,
    finished_at         TIMESTAMPTZ
);

-- Debounce's credit balance as last read (a verification call or a balance check).
CREATE TABLE debounce_balance (
    id          INTEGER PRIMARY KEY DEFAULT 1,
    balance     BIGINT NOT NULL,
    checked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
