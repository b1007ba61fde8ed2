-- What the Email Bison webhook receiver last reported about refusing events because its folder
-- was over webhook_folder_max_mb. The receiver never opens the database: it keeps
-- <db>.inbox/webhook_receiver.json, and ingest copies it here (one row, id 1) so the
-- webhook_folder_full check can see it.
CREATE TABLE webhook_receiver_status (
    id                INTEGER PRIMARY KEY,        -- always 1
    reported_at       TIMESTAMPTZ NOT NULL,       -- when the receiver wrote what is recorded
    recorded_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    refused           BIGINT NOT NULL,            -- events refused since the receiver started
    refusing_since    TIMESTAMPTZ,                -- first refusal not yet followed by an accepted event
    episode_refused   BIGINT NOT NULL DEFAULT 0,  -- refused since refusing_since
    last_refused_at   TIMESTAMPTZ,
    last_accepted_at  TIMESTAMPTZ,
    folder_bytes      BIGINT,
    folder_max_bytes  BIGINT
);
