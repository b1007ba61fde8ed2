-- Email Bison webhook events, one row per event. event_id is the idempotency key: the event's own
-- id when the payload carries one, else a SHA-256 of the payload, so a redelivered event is
-- stored once. workspace_id is ours (NULL when the Bison workspace is not mapped to a client);
-- applied_at is set when the event was applied to the bison_* mirror tables; error says why not.
CREATE TABLE bison_webhook_events (
    event_id            VARCHAR PRIMARY KEY,
    workspace_id        INTEGER,
    bison_workspace_id  BIGINT,
    event_type          VARCHAR NOT NULL,       -- lower snake case, e.g. lead_replied
    received_at         TIMESTAMPTZ NOT NULL,   -- when the receiver accepted it
    payload             JSON NOT NULL,          -- the body as Email Bison sent it
    applied_at          TIMESTAMPTZ,
    error               VARCHAR
);
