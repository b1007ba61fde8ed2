-- The outcome of the last Test of each agency connection (Settings → Connections): Email Bison,
-- the master contacts database, Slack, SMTP. The setup checklist shows it without calling
-- anything. `target` says what was tested, never a secret: a URL without its password, a host
-- and port, a secret's last 4 characters.
CREATE TABLE connection_tests (
    name        VARCHAR PRIMARY KEY,          -- bison, master_db, slack, smtp
    target      VARCHAR,
    ok          BOOLEAN NOT NULL,
    message     VARCHAR NOT NULL,
    tested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    tested_by   VARCHAR NOT NULL
);
