-- A contact's story: which row of which file it came from, and every decision about it.

ALTER TABLE contacts ADD COLUMN import_row BIGINT;   -- data row in the file (1 = first after the header)

-- One row per decision about a contact: a filter rule that rejected or moved it, a verification
-- result, an upload held back by the suppression list, an edit, a move to another client.
CREATE TABLE contact_events (
    contact_id      BIGINT NOT NULL,
    workspace_id    INTEGER NOT NULL,
    kind            VARCHAR NOT NULL,          -- filter, verify, held_back, edit, move
    rule            VARCHAR,                   -- the filter rule's name, the verifier, the field
    reason          VARCHAR,                   -- what it decided, in words
    actor           VARCHAR NOT NULL DEFAULT 'pipeline',
    occurred_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Where an automatic suppression came from (the Email Bison lead, event or reply).
ALTER TABLE suppression_list ADD COLUMN detail VARCHAR;
