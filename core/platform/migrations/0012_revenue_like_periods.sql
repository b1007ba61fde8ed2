-- Revenue figures by the month they belong to. A month's profit is its billing (by the client's
-- billing model) less its costs, no longer the cash received in it less its costs; the cash
-- column is named for what it is (invoices paid in the month less refunds made in it). A snapshot
-- also keeps the reconciling figures; those saved before them are NULL (not kept).
ALTER TABLE revenue_snapshots RENAME COLUMN revenue TO net_cash;
UPDATE revenue_snapshots SET profit = billed_by_model - total_cost;
ALTER TABLE revenue_snapshots ADD COLUMN not_yet_invoiced BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN invoice_difference BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN outstanding BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN written_off BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN cash_received BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN cash_for_month BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN cash_for_earlier BIGINT;
ALTER TABLE revenue_snapshots ADD COLUMN cash_in_advance BIGINT;
