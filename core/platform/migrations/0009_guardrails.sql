-- Guardrails: per-client threshold overrides, alerts with their history and deliveries,
-- alert channels, daily snapshots of sending-account counters, campaign schedules when known,
-- check runs and client report sends.

-- A client's own value for a guardrail setting (the default lives in the settings registry).
CREATE TABLE guardrail_overrides (
    workspace_id    INTEGER NOT NULL,
    setting         VARCHAR NOT NULL,
    value           JSON NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by      VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, setting)
);

-- One row per alert episode: opened when a check first finds the problem, resolved when a later
-- run no longer finds it. alert_key names the problem (check, client, subject); at most one open
-- alert per key.
CREATE SEQUENCE alerts_id_seq START 1;
CREATE TABLE alerts (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('alerts_id_seq'),
    alert_key           VARCHAR NOT NULL,
    check_name          VARCHAR NOT NULL,
    severity            VARCHAR NOT NULL,        -- info, warning, danger
    workspace_id        INTEGER,
    subject_kind        VARCHAR NOT NULL,        -- client, campaign, sender, batch, source
    subject_id          VARCHAR,
    subject_name        VARCHAR,
    title               VARCHAR NOT NULL,
    explanation         VARCHAR NOT NULL,
    metric              DOUBLE,
    threshold           DOUBLE,
    status              VARCHAR NOT NULL DEFAULT 'open',   -- open, resolved
    first_seen          TIMESTAMPTZ NOT NULL,
    last_seen           TIMESTAMPTZ NOT NULL,
    resolved_at         TIMESTAMPTZ,
    acknowledged_by     VARCHAR,
    acknowledged_at     TIMESTAMPTZ,
    ack_reason          VARCHAR,
    snoozed_by          VARCHAR,
    snoozed_until       TIMESTAMPTZ,
    snooze_reason       VARCHAR,
    auto_action         VARCHAR                  -- what the check did by itself, e.g. paused in Email Bison
);
CREATE INDEX alerts_key_idx ON alerts (alert_key);

CREATE SEQUENCE alert_events_id_seq START 1;
CREATE TABLE alert_events (
    id          BIGINT PRIMARY KEY DEFAULT nextval('alert_events_id_seq'),
    alert_id    BIGINT NOT NULL,
    happened_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind        VARCHAR NOT NULL,     -- opened, resolved, acknowledged, snoozed, auto_paused, auto_pause_failed
    actor       VARCHAR NOT NULL,
    note        VARCHAR
);

-- Where alerts go. Slack webhook URLs live in the secret store (alerts.slack.<name>).
CREATE TABLE alert_channels (
    name            VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL CHECK (kind IN ('slack', 'email')),
    workspace_id    INTEGER,                  -- NULL: every client
    min_severity    VARCHAR NOT NULL DEFAULT 'warning',
    email_to        VARCHAR,                  -- for e-mail channels
    active          BOOLEAN NOT NULL DEFAULT true,
    created_by      VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One message per alert, channel and event (opened / resolved): the de-duplication key.
CREATE TABLE alert_notifications (
    alert_id    BIGINT NOT NULL,
    channel     VARCHAR NOT NULL,
    event       VARCHAR NOT NULL,         -- opened, resolved
    status      VARCHAR NOT NULL,         -- sent, failed
    attempts    INTEGER NOT NULL DEFAULT 1,
    sent_at     TIMESTAMPTZ,
    error       VARCHAR,
    PRIMARY KEY (alert_id, channel, event)
);

-- Email Bison keeps lifetime counters per sending account; a daily snapshot turns them into a
-- rolling window (today's counters minus the snapshot at the window's start).
CREATE TABLE sender_email_snapshots (
    workspace_id        INTEGER NOT NULL,
    sender_email_id     BIGINT NOT NULL,
    day                 DATE NOT NULL,
    emails_sent_count   BIGINT NOT NULL,
    bounced_count       BIGINT NOT NULL,
    unsubscribed_count  BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, sender_email_id, day)
);

-- A campaign's sending schedule, when known (days, local hours and time zone).
CREATE TABLE bison_campaign_schedules (
    workspace_id    INTEGER NOT NULL,
    campaign_id     BIGINT NOT NULL,
    days            VARCHAR[] NOT NULL,       -- e.g. ['monday', 'tuesday']
    start_time      TIME NOT NULL,
    end_time        TIME NOT NULL,
    timezone        VARCHAR NOT NULL,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, campaign_id)
);

CREATE SEQUENCE check_runs_id_seq START 1;
CREATE TABLE check_runs (
    id              BIGINT PRIMARY KEY DEFAULT nextval('check_runs_id_seq'),
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    triggered_by    VARCHAR NOT NULL,
    findings        INTEGER,
    opened          INTEGER,
    resolved        INTEGER,
    messages        INTEGER,
    seconds         DOUBLE,
    error           VARCHAR
);

CREATE SEQUENCE client_report_sends_id_seq START 1;
CREATE TABLE client_report_sends (
    id              BIGINT PRIMARY KEY DEFAULT nextval('client_report_sends_id_seq'),
    workspace_id    INTEGER NOT NULL,
    week_start      DATE NOT NULL,
    recipient       VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,       -- sent, failed
    error           VARCHAR,
    sent_by         VARCHAR NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
