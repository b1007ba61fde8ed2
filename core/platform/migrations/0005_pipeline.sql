-- Lead pipeline: imports, filter rules, suppression, verification, uploads, runs and their stages.

ALTER TABLE contacts ADD COLUMN import_id BIGINT;
ALTER TABLE contacts ADD COLUMN verification_source VARCHAR;     -- debounce, local
ALTER TABLE contacts ADD COLUMN verification_code VARCHAR;       -- Debounce code 1-8
ALTER TABLE contacts ADD COLUMN bison_lead_id BIGINT;
ALTER TABLE contacts ADD COLUMN uploaded_at TIMESTAMPTZ;
ALTER TABLE contacts ADD COLUMN routed_from INTEGER;              -- workspace a high-net-worth contact came from

ALTER TABLE batches ADD COLUMN bison_campaign_id BIGINT;
ALTER TABLE batches ADD COLUMN uploaded_count INTEGER NOT NULL DEFAULT 0;

-- Per-client pipeline settings: where uploads go in Email Bison.
CREATE TABLE pipeline_settings (
    workspace_id            INTEGER PRIMARY KEY,
    upload_campaign_id      BIGINT,            -- campaign each batch's leads are attached to
    evergreen_campaign_id   BIGINT,            -- the weekly evergreen campaign
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by              VARCHAR NOT NULL DEFAULT 'system'
);

-- Filter rules, applied in `position` order; the first rule a contact matches is its reason.
-- workspace_id NULL = every client; a client's rule with the same name replaces the global one.
CREATE SEQUENCE filter_rules_id_seq START 1;
CREATE TABLE filter_rules (
    id              BIGINT PRIMARY KEY DEFAULT nextval('filter_rules_id_seq'),
    workspace_id    INTEGER,
    name            VARCHAR NOT NULL,
    field           VARCHAR NOT NULL,
    operator        VARCHAR NOT NULL,
    value           VARCHAR,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    position        INTEGER NOT NULL DEFAULT 100,
    created_by      VARCHAR NOT NULL DEFAULT 'system',
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO filter_rules (name, field, operator, value, position) VALUES
    ('invalid email', 'email', 'invalid_email', NULL, 10),
    ('suppressed', 'email', 'suppressed', NULL, 20),
    ('role account', 'email', 'role_account', NULL, 30),
    ('disposable domain', 'email', 'disposable_domain', NULL, 40),
    ('already uploaded', 'email', 'previously_uploaded', NULL, 50),
    ('duplicate', 'email', 'duplicate', NULL, 60),
    ('not head of household', 'head_of_household', 'is_false', NULL, 70),
    ('home value over cap', 'home_value', 'over_cap', NULL, 80);
INSERT INTO filter_rules (name, field, operator, value, enabled, position) VALUES
    ('high-net-worth routing', 'state', 'route_over_cap', '', false, 75);

CREATE TABLE suppression_list (
    email_key       VARCHAR PRIMARY KEY,
    reason          VARCHAR NOT NULL,          -- unsubscribed, bounced, complaint, manual
    source          VARCHAR NOT NULL DEFAULT 'manual',
    added_by        VARCHAR NOT NULL DEFAULT 'system',
    added_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every file import or master-database pull: who, when, what, counts.
CREATE SEQUENCE import_reports_id_seq START 1;
CREATE TABLE import_reports (
    id              BIGINT PRIMARY KEY DEFAULT nextval('import_reports_id_seq'),
    workspace_id    INTEGER NOT NULL,
    source          VARCHAR NOT NULL,          -- file, master_db
    filename        VARCHAR,
    mapping         JSON,
    rows_read       BIGINT NOT NULL DEFAULT 0,
    imported        BIGINT NOT NULL DEFAULT 0,
    duplicates      BIGINT NOT NULL DEFAULT 0,
    rejected        BIGINT NOT NULL DEFAULT 0,
    status          VARCHAR NOT NULL DEFAULT 'running',   -- running, succeeded, failed
    error           VARCHAR,
    requested_by    VARCHAR NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    seconds         DOUBLE
);

CREATE TABLE import_rejects (
    import_id       BIGINT NOT NULL,
    row_number      BIGINT NOT NULL,           -- data row in the file, 1 = first row after the header
    reason          VARCHAR NOT NULL,
    email           VARCHAR,
    zip             VARCHAR,
    raw             VARCHAR
);

-- Master-database pulls: which ZIPs were pulled for which client and month.
CREATE SEQUENCE pull_history_id_seq START 1;
CREATE TABLE pull_history (
    id              BIGINT PRIMARY KEY DEFAULT nextval('pull_history_id_seq'),
    workspace_id    INTEGER NOT NULL,
    month           DATE NOT NULL,
    import_id       BIGINT,
    zips            VARCHAR[] NOT NULL,
    queries         INTEGER NOT NULL DEFAULT 0,
    requested       BIGINT NOT NULL DEFAULT 0,
    pulled          BIGINT NOT NULL DEFAULT 0,
    requested_by    VARCHAR NOT NULL,
    pulled_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Contacts (by email) pulled from the master database for a client, for the "not in N months" rule.
CREATE TABLE master_pulled (
    email_key       VARCHAR NOT NULL,
    workspace_id    INTEGER NOT NULL,
    pulled_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (email_key, workspace_id)
);

-- One pipeline run per client and month at a time; one row per stage.
CREATE SEQUENCE pipeline_runs_id_seq START 1;
CREATE TABLE pipeline_runs (
    id              BIGINT PRIMARY KEY DEFAULT nextval('pipeline_runs_id_seq'),
    workspace_id    INTEGER NOT NULL,
    month           DATE NOT NULL,             -- renewal month
    from_stage      VARCHAR NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'queued',   -- queued, running, succeeded, failed, cancelled
    job_id          VARCHAR,
    retry_of        BIGINT,
    error           VARCHAR,
    requested_by    VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ
);

CREATE TABLE pipeline_stage_runs (
    run_id          BIGINT NOT NULL,
    stage           VARCHAR NOT NULL,          -- filter, verify, batch, upload
    position        INTEGER NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'pending',  -- pending, running, succeeded, failed, cancelled, skipped
    done            BIGINT NOT NULL DEFAULT 0,
    total           BIGINT,
    input_count     BIGINT,
    output_count    BIGINT,
    counts          JSON,
    message         VARCHAR,
    error           VARCHAR,
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (run_id, stage)
);

CREATE SEQUENCE verification_runs_id_seq START 1;
CREATE TABLE verification_runs (
    id              BIGINT PRIMARY KEY DEFAULT nextval('verification_runs_id_seq'),
    workspace_id    INTEGER NOT NULL,
    pipeline_run_id BIGINT,
    mode            VARCHAR NOT NULL,          -- debounce, local
    checked         BIGINT NOT NULL DEFAULT 0,
    safe            BIGINT NOT NULL DEFAULT 0,
    risky           BIGINT NOT NULL DEFAULT 0,
    invalid         BIGINT NOT NULL DEFAULT 0,
    unknown         BIGINT NOT NULL DEFAULT 0,
    credits         BIGINT NOT NULL DEFAULT 0,
    cost_cents      BIGINT NOT NULL DEFAULT 0,
    balance         BIGINT,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);

-- Weekly evergreen step: which batch was attached to which campaign (once per batch).
CREATE TABLE evergreen_updates (
    workspace_id    INTEGER NOT NULL,
    batch_id        BIGINT NOT NULL,
    campaign_id     BIGINT NOT NULL,
    campaign_name   VARCHAR NOT NULL,
    leads           INTEGER NOT NULL DEFAULT 0,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, batch_id)
);

-- Slack milestone notices that were sent (or failed), for the page and for tests.
CREATE SEQUENCE notices_id_seq START 1;
CREATE TABLE notices (
    id              BIGINT PRIMARY KEY DEFAULT nextval('notices_id_seq'),
    workspace_id    INTEGER,
    milestone       VARCHAR NOT NULL,
    text            VARCHAR NOT NULL,
    delivered       BOOLEAN NOT NULL,
    error           VARCHAR,
    sent_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
