-- People who may sign in, with their role; and what the credentials vault knows of each secret.
CREATE TABLE users (
    email           VARCHAR PRIMARY KEY,      -- lower-case
    name            VARCHAR,
    role            VARCHAR NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'client')),
    workspace_id    INTEGER,                  -- the one client a 'client' user belongs to
    active          BOOLEAN NOT NULL DEFAULT true,
    invited_by      VARCHAR NOT NULL,
    invited_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at    TIMESTAMPTZ
);

ALTER TABLE secret_refs ADD COLUMN label VARCHAR;
ALTER TABLE secret_refs ADD COLUMN username VARCHAR;
ALTER TABLE secret_refs ADD COLUMN states VARCHAR[];
ALTER TABLE secret_refs ADD COLUMN last_tested_at TIMESTAMPTZ;
ALTER TABLE secret_refs ADD COLUMN last_test_ok BOOLEAN;
ALTER TABLE secret_refs ADD COLUMN last_test_message VARCHAR;
