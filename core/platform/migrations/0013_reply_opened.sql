-- When a reply was first opened in LeadOps, and by whom. Email Bison's own read flag comes back
-- with every sync; this one is ours, so a reply opened here stays read whatever the sync says.
ALTER TABLE reply_labels ADD COLUMN opened_at TIMESTAMPTZ;
ALTER TABLE reply_labels ADD COLUMN opened_by VARCHAR;
