-- LeadOps core schema. Money in integer cents; times UTC TIMESTAMPTZ.

CREATE TABLE us_states (
    code        VARCHAR PRIMARY KEY,      -- two-letter postal code
    name        VARCHAR NOT NULL,
    region      VARCHAR NOT NULL,         -- census region: Northeast, Midwest, South, West (or Territory)
    division    VARCHAR NOT NULL,         -- census division
    fips        VARCHAR
);

CREATE TABLE us_zip_codes (
    zip         VARCHAR PRIMARY KEY,
    city        VARCHAR NOT NULL,
    state       VARCHAR NOT NULL,
    county      VARCHAR,
    lat         DOUBLE,
    lon         DOUBLE,
    timezone    VARCHAR,
    zip_type    VARCHAR NOT NULL,         -- STANDARD, PO BOX, UNIQUE, MILITARY
    active      BOOLEAN NOT NULL
);

-- Package tiers: the monthly KPI target and the volume plan it implies.
CREATE TABLE package_tiers (
    tier                    VARCHAR PRIMARY KEY,
    monthly_target          INTEGER NOT NULL,   -- interested replies a month
    refined_contacts        INTEGER NOT NULL,   -- refined contacts uploaded a month
    emails_per_day          INTEGER NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO package_tiers (tier, monthly_target, refined_contacts, emails_per_day) VALUES
    ('100', 100, 15000, 1750),
    ('200', 200, 30000, 3500);

CREATE SEQUENCE workspaces_id_seq START 1;
CREATE TABLE workspaces (
    id                  INTEGER PRIMARY KEY DEFAULT nextval('workspaces_id_seq'),
    name                VARCHAR NOT NULL UNIQUE,    -- the client (an insurance agent or agency)
    contact_email       VARCHAR,
    licensed_states     VARCHAR[] NOT NULL DEFAULT [],
    tier                VARCHAR NOT NULL DEFAULT '100',
    monthly_target      INTEGER NOT NULL DEFAULT 100,
    billing_type        VARCHAR NOT NULL DEFAULT 'per_lead' CHECK (billing_type IN ('per_lead', 'retainer')),
    price_per_lead_cents BIGINT NOT NULL DEFAULT 0,
    retainer_cents      BIGINT NOT NULL DEFAULT 0,
    home_value_cap      BIGINT NOT NULL DEFAULT 900000,
    high_net_worth      BOOLEAN NOT NULL DEFAULT false,  -- receives contacts above other clients' caps
    bison_workspace_id  BIGINT,
    timezone            VARCHAR NOT NULL DEFAULT 'America/New_York',
    active              BOOLEAN NOT NULL DEFAULT true,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE zip_assignments (
    zip             VARCHAR NOT NULL,
    workspace_id    INTEGER NOT NULL,
    assigned_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    assigned_by     VARCHAR NOT NULL DEFAULT 'system',
    PRIMARY KEY (zip, workspace_id)
);

-- Homeowner contacts and where each is in the pipeline.
-- status: raw -> filtered | rejected -> verified | invalid -> batched -> uploaded
CREATE SEQUENCE contacts_id_seq START 1;
CREATE TABLE contacts (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('contacts_id_seq'),
    workspace_id        INTEGER NOT NULL,
    first_name          VARCHAR,
    last_name           VARCHAR,
    email               VARCHAR,
    address             VARCHAR,
    city                VARCHAR,
    state               VARCHAR,
    zip                 VARCHAR,
    cell_phone          VARCHAR,
    purchase_date       DATE,
    home_value          BIGINT,            -- whole dollars
    head_of_household   BOOLEAN,
    income              BIGINT,            -- whole dollars a year
    date_of_birth       DATE,
    renewal_month       DATE,              -- first day of the month the policy renews
    campaign_month      DATE,              -- first day of the month the contact is mailed
    status              VARCHAR NOT NULL DEFAULT 'raw',
    reject_reason       VARCHAR,
    verification_result VARCHAR,           -- safe, invalid, risky, unknown (Debounce)
    batch_id            BIGINT,
    source              VARCHAR NOT NULL DEFAULT 'import',
    imported_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE SEQUENCE batches_id_seq START 1;
CREATE TABLE batches (
    id              BIGINT PRIMARY KEY DEFAULT nextval('batches_id_seq'),
    workspace_id    INTEGER NOT NULL,
    campaign_month  DATE NOT NULL,          -- month the batch is mailed
    renewal_month   DATE NOT NULL,
    window_start    DATE NOT NULL,          -- renewal window, e.g. Feb 1
    window_end      DATE NOT NULL,          -- e.g. Feb 7
    name            VARCHAR NOT NULL,       -- "February 1st-7th renewals"
    status          VARCHAR NOT NULL DEFAULT 'pending',   -- pending, uploading, uploaded, failed
    contact_count   INTEGER NOT NULL DEFAULT 0,
    bison_tag_id    BIGINT,
    error           VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    uploaded_at     TIMESTAMPTZ,
    UNIQUE (workspace_id, renewal_month, window_start)
);

-- Email Bison mirror. Primary keys are (workspace_id, source id).
CREATE TABLE bison_campaigns (
    workspace_id            INTEGER NOT NULL,
    id                      BIGINT NOT NULL,
    uuid                    VARCHAR,
    name                    VARCHAR NOT NULL,
    type                    VARCHAR,
    status                  VARCHAR NOT NULL,     -- lower-case: active, paused, draft, completed, ...
    emails_sent             BIGINT NOT NULL DEFAULT 0,
    opened                  BIGINT NOT NULL DEFAULT 0,
    unique_opens            BIGINT NOT NULL DEFAULT 0,
    replied                 BIGINT NOT NULL DEFAULT 0,
    unique_replies          BIGINT NOT NULL DEFAULT 0,
    bounced                 BIGINT NOT NULL DEFAULT 0,
    unsubscribed            BIGINT NOT NULL DEFAULT 0,
    interested              BIGINT NOT NULL DEFAULT 0,
    total_leads_contacted   BIGINT NOT NULL DEFAULT 0,
    total_leads             BIGINT NOT NULL DEFAULT 0,
    max_emails_per_day      INTEGER,
    max_new_leads_per_day   INTEGER,
    created_at              TIMESTAMPTZ,
    updated_at              TIMESTAMPTZ,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

-- One row per sequence step and per A/B variant; variants point at their original step.
CREATE TABLE bison_sequence_steps (
    workspace_id        INTEGER NOT NULL,
    id                  BIGINT NOT NULL,
    campaign_id         BIGINT NOT NULL,
    step_order          INTEGER NOT NULL,
    email_subject       VARCHAR,
    email_body          VARCHAR,
    wait_in_days        INTEGER,
    variant             BOOLEAN NOT NULL DEFAULT false,
    variant_of_step_id  BIGINT,
    thread_reply        BOOLEAN NOT NULL DEFAULT false,
    active              BOOLEAN NOT NULL DEFAULT true,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

-- Daily snapshots of per-step/variant stats.
CREATE TABLE bison_step_stats (
    workspace_id    INTEGER NOT NULL,
    campaign_id     BIGINT NOT NULL,
    step_id         BIGINT NOT NULL,
    day             DATE NOT NULL,
    sent            BIGINT NOT NULL DEFAULT 0,
    opened          BIGINT NOT NULL DEFAULT 0,
    replied         BIGINT NOT NULL DEFAULT 0,
    interested      BIGINT NOT NULL DEFAULT 0,
    bounced         BIGINT NOT NULL DEFAULT 0,
    unsubscribed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, step_id, day)
);

CREATE TABLE bison_campaign_daily (
    workspace_id    INTEGER NOT NULL,
    campaign_id     BIGINT NOT NULL,
    day             DATE NOT NULL,
    sent            BIGINT NOT NULL DEFAULT 0,
    opens           BIGINT NOT NULL DEFAULT 0,
    replies         BIGINT NOT NULL DEFAULT 0,
    interested      BIGINT NOT NULL DEFAULT 0,
    bounced         BIGINT NOT NULL DEFAULT 0,
    unsubscribed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, campaign_id, day)
);

CREATE TABLE bison_replies (
    workspace_id        INTEGER NOT NULL,
    id                  BIGINT NOT NULL,
    uuid                VARCHAR,
    campaign_id         BIGINT,
    lead_id             BIGINT,
    sender_email_id     BIGINT,
    scheduled_email_id  BIGINT,
    folder              VARCHAR,
    subject             VARCHAR,
    text_body           VARCHAR,
    from_name           VARCHAR,
    from_email          VARCHAR,
    to_email            VARCHAR,
    interested          BOOLEAN NOT NULL DEFAULT false,
    automated_reply     BOOLEAN NOT NULL DEFAULT false,
    read                BOOLEAN NOT NULL DEFAULT false,
    type                VARCHAR,
    sentiment           VARCHAR,            -- positive, neutral, negative (our classification)
    category            VARCHAR,            -- interested, not_interested, out_of_office, ...
    date_received       TIMESTAMPTZ NOT NULL,
    created_at          TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE bison_leads (
    workspace_id        INTEGER NOT NULL,
    id                  BIGINT NOT NULL,
    email               VARCHAR NOT NULL,
    first_name          VARCHAR,
    last_name           VARCHAR,
    company             VARCHAR,
    status              VARCHAR,           -- verification status in Email Bison
    campaign_status     VARCHAR,           -- in_sequence, sequence_finished, replied, ...
    emails_sent         INTEGER NOT NULL DEFAULT 0,
    replies             INTEGER NOT NULL DEFAULT 0,
    custom_variables    JSON,
    contact_id          BIGINT,            -- our contacts.id when the lead came from a batch
    created_at          TIMESTAMPTZ,
    updated_at          TIMESTAMPTZ,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE bison_tags (
    workspace_id    INTEGER NOT NULL,
    id              BIGINT NOT NULL,
    name            VARCHAR NOT NULL,
    is_default      BOOLEAN NOT NULL DEFAULT false,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE bison_sender_emails (
    workspace_id            INTEGER NOT NULL,
    id                      BIGINT NOT NULL,
    email                   VARCHAR NOT NULL,
    name                    VARCHAR,
    type                    VARCHAR,
    status                  VARCHAR,        -- connected, disconnected
    daily_limit             INTEGER,
    warmup_enabled          BOOLEAN,
    warmup_score            DOUBLE,
    emails_sent_count       BIGINT NOT NULL DEFAULT 0,
    total_replied_count     BIGINT NOT NULL DEFAULT 0,
    bounced_count           BIGINT NOT NULL DEFAULT 0,
    unsubscribed_count      BIGINT NOT NULL DEFAULT 0,
    interested_leads_count  BIGINT NOT NULL DEFAULT 0,
    created_at              TIMESTAMPTZ,
    updated_at              TIMESTAMPTZ,
    synced_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE bison_campaign_sender_emails (
    workspace_id        INTEGER NOT NULL,
    campaign_id         BIGINT NOT NULL,
    sender_email_id     BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, campaign_id, sender_email_id)
);

-- Stripe mirror (ids are Stripe's). workspace_id is resolved from metadata or the mapping.
CREATE TABLE stripe_customers (
    id              VARCHAR PRIMARY KEY,
    email           VARCHAR,
    name            VARCHAR,
    workspace_id    INTEGER,
    metadata        JSON,
    created         TIMESTAMPTZ,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE stripe_invoices (
    id                  VARCHAR PRIMARY KEY,
    customer_id         VARCHAR NOT NULL,
    subscription_id     VARCHAR,
    status              VARCHAR NOT NULL,     -- draft, open, paid, uncollectible, void
    currency            VARCHAR NOT NULL DEFAULT 'usd',
    amount_due          BIGINT NOT NULL DEFAULT 0,    -- cents
    amount_paid         BIGINT NOT NULL DEFAULT 0,
    amount_remaining    BIGINT NOT NULL DEFAULT 0,
    period_start        TIMESTAMPTZ,
    period_end          TIMESTAMPTZ,
    created             TIMESTAMPTZ NOT NULL,
    paid_at             TIMESTAMPTZ,
    description         VARCHAR,
    synced_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per-client costs a month (sending infrastructure, data, verification, labour).
CREATE TABLE workspace_costs (
    workspace_id    INTEGER NOT NULL,
    month           DATE NOT NULL,
    category        VARCHAR NOT NULL,
    amount_cents    BIGINT NOT NULL,
    note            VARCHAR,
    PRIMARY KEY (workspace_id, month, category)
);

-- Sync bookkeeping: one cursor per (source, workspace, resource); one row per run.
CREATE TABLE sync_cursors (
    source          VARCHAR NOT NULL,
    workspace_id    INTEGER NOT NULL,
    resource        VARCHAR NOT NULL,
    cursor_value    VARCHAR,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, workspace_id, resource)
);

CREATE SEQUENCE sync_runs_id_seq START 1;
CREATE TABLE sync_runs (
    id              BIGINT PRIMARY KEY DEFAULT nextval('sync_runs_id_seq'),
    source          VARCHAR NOT NULL,
    workspace_id    INTEGER,
    started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    status          VARCHAR NOT NULL DEFAULT 'running',   -- running, succeeded, failed, cancelled
    counts          JSON,
    requests        INTEGER,
    error           VARCHAR,
    triggered_by    VARCHAR
);

-- Background jobs (pipeline stages, syncs, CLI requests run by the app) and their progress.
CREATE TABLE jobs (
    id              VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,
    params          JSON,
    workspace_id    INTEGER,
    status          VARCHAR NOT NULL DEFAULT 'queued',    -- queued, running, succeeded, failed, cancelled
    stage           VARCHAR,
    done            BIGINT NOT NULL DEFAULT 0,
    total           BIGINT,
    message         VARCHAR,
    result          JSON,
    error           VARCHAR,
    requested_by    VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ
);

CREATE SEQUENCE audit_log_id_seq START 1;
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY DEFAULT nextval('audit_log_id_seq'),
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,         -- e.g. workspace.create, settings.update
    entity      VARCHAR NOT NULL,         -- e.g. workspace
    entity_id   VARCHAR,
    before      JSON,
    after       JSON
);

-- Operator-editable settings (the registry in core/settings.py names and documents them).
CREATE TABLE settings (
    name        VARCHAR PRIMARY KEY,
    value       JSON NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  VARCHAR NOT NULL
);

-- Which secrets exist (the values live in the keyring, never here): name and last 4 chars.
CREATE TABLE secret_refs (
    name        VARCHAR PRIMARY KEY,      -- e.g. bison.workspace.3
    kind        VARCHAR NOT NULL,         -- bison_token, stripe_key, ...
    last4       VARCHAR NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  VARCHAR NOT NULL
);

-- The one source of truth for "interested replies": one row per interested lead per workspace,
-- dated by its first interested reply. KPI, billing and revenue all count from here.
CREATE VIEW interested_leads AS
SELECT workspace_id,
       coalesce(CAST(lead_id AS VARCHAR), lower(from_email)) AS lead_key,
       min(date_received) AS interested_at,
       arg_min(campaign_id, date_received) AS campaign_id
FROM bison_replies
WHERE interested AND NOT automated_reply AND coalesce(folder, 'Inbox') <> 'Sent'
GROUP BY ALL;
