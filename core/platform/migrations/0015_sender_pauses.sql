-- Sending accounts paused from LeadOps. Email Bison has no pause for a single inbox, so a pause
-- sets the account's daily limit to 0 there and keeps here the limit it had, which Resume puts
-- back. One row per paused account; Resume deletes it (both are in the audit log).
CREATE TABLE sender_pauses (
    workspace_id          INTEGER NOT NULL,
    sender_email_id       BIGINT NOT NULL,
    previous_daily_limit  INTEGER NOT NULL,
    paused_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    paused_by             VARCHAR NOT NULL,
    reason                VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, sender_email_id)
);
