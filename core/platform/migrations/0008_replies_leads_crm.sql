-- Replies inbox, client leads and CRM delivery.

-- Our classification of each synced reply (the rule that fired), and a staff override with who/when.
-- Kept apart from bison_replies so that a sync, which rewrites the mirror, never loses either.
CREATE TABLE reply_labels (
    workspace_id        INTEGER NOT NULL,
    reply_id            BIGINT NOT NULL,
    category            VARCHAR NOT NULL,     -- classifier output (core/reply_classifier.py)
    sentiment           VARCHAR NOT NULL,     -- positive, neutral, negative
    rule                VARCHAR NOT NULL,     -- which rule decided it
    classified_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    override_category   VARCHAR,              -- set by staff; wins over `category`
    override_by         VARCHAR,
    override_at         TIMESTAMPTZ,
    handled_at          TIMESTAMPTZ,          -- answered or marked handled
    handled_by          VARCHAR,
    PRIMARY KEY (workspace_id, reply_id)
);

-- Editable reply templates with merge fields ({first_name}, {client}, ...).
CREATE TABLE reply_templates (
    name        VARCHAR PRIMARY KEY,
    body        VARCHAR NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by  VARCHAR NOT NULL
);
INSERT INTO reply_templates (name, body, updated_by) VALUES
    ('Interested: book a call', 'Hi {first_name},

Thanks for getting back to me. I''d be glad to put a quote together for your home before the renewal. What is a good time for a 10-minute call this week, and is {phone_hint} the best number?

Best,
{sender_name}
{client}', 'system'),
    ('Question: who we are', 'Hi {first_name},

Good question. I work with {client}, a licensed independent agency that compares home insurance from several carriers. We reached out because your policy renewal is coming up. Would you like a no-obligation quote?

Best,
{sender_name}', 'system'),
    ('Not interested: close politely', 'Hi {first_name},

Understood, thanks for letting me know. I won''t follow up again. If anything changes at renewal time, just reply to this email.

Best,
{sender_name}', 'system');

-- One lead per client and normalised email, however many campaigns it replied to.
CREATE TABLE client_leads (
    workspace_id        INTEGER NOT NULL,
    email               VARCHAR NOT NULL,     -- lower-case, trimmed
    first_name          VARCHAR,
    last_name           VARCHAR,
    stage               VARCHAR NOT NULL DEFAULT 'new'
                        CHECK (stage IN ('new', 'contacted', 'quoted', 'won', 'lost')),
    first_interested_at TIMESTAMPTZ NOT NULL,
    stage_changed_at    TIMESTAMPTZ,
    stage_changed_by    VARCHAR,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, email)
);

CREATE SEQUENCE client_lead_notes_id_seq START 1;
CREATE TABLE client_lead_notes (
    id              BIGINT PRIMARY KEY DEFAULT nextval('client_lead_notes_id_seq'),
    workspace_id    INTEGER NOT NULL,
    email           VARCHAR NOT NULL,
    body            VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by      VARCHAR NOT NULL
);

-- Per-client CRM configuration. Tokens and signing secrets live in the keyring
-- (crm.workspace.<id>, crm.webhook.<id>), never here.
CREATE TABLE crm_configs (
    workspace_id    INTEGER PRIMARY KEY,
    crm_type        VARCHAR NOT NULL CHECK (crm_type IN ('hubspot', 'gohighlevel', 'webhook')),
    url             VARCHAR,                  -- webhook URL, or an API base URL override
    location_id     VARCHAR,                  -- GoHighLevel sub-account
    create_deal     BOOLEAN NOT NULL DEFAULT false,
    deal_pipeline   VARCHAR,
    deal_stage      VARCHAR,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    last_test_at    TIMESTAMPTZ,
    last_test_ok    BOOLEAN,
    last_test_message VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),   -- leads older than this (minus the backfill) stay out
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by      VARCHAR NOT NULL
);

-- One delivery per (lead, client): the delivery key is its identity, so retries never duplicate.
CREATE TABLE crm_deliveries (
    delivery_key    VARCHAR PRIMARY KEY,      -- sha256 of workspace id and normalised email
    workspace_id    INTEGER NOT NULL,
    email           VARCHAR NOT NULL,
    crm_type        VARCHAR NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'pending',   -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      VARCHAR,
    crm_contact_id  VARCHAR,
    crm_note_id     VARCHAR,
    crm_deal_id     VARCHAR,
    crm_deal_stage  VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ
);

-- Every HTTP attempt of a delivery (retries included); response excerpts are redacted.
CREATE SEQUENCE crm_attempts_id_seq START 1;
CREATE TABLE crm_attempts (
    id              BIGINT PRIMARY KEY DEFAULT nextval('crm_attempts_id_seq'),
    delivery_key    VARCHAR,                  -- NULL for a connection test
    workspace_id    INTEGER NOT NULL,
    attempted_at    TIMESTAMPTZ NOT NULL,
    method          VARCHAR NOT NULL,
    path            VARCHAR NOT NULL,
    status_code     INTEGER,                  -- NULL: no response (timeout, connection error)
    ok              BOOLEAN NOT NULL,
    duration_ms     INTEGER NOT NULL,
    response_excerpt VARCHAR
);

-- Replies we sent from LeadOps through Email Bison (the mirror keeps inbound mail only).
CREATE SEQUENCE reply_sends_id_seq START 1;
CREATE TABLE reply_sends (
    id              BIGINT PRIMARY KEY DEFAULT nextval('reply_sends_id_seq'),
    workspace_id    INTEGER NOT NULL,
    reply_id        BIGINT NOT NULL,          -- the reply answered
    bison_reply_id  BIGINT,                   -- the sent message in Email Bison
    to_email        VARCHAR,
    body            VARCHAR NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_by         VARCHAR NOT NULL
);
