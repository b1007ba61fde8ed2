"""Billing, invoicing, cash, costs, profit and margin per client and month; agency totals and
history.

Every figure belongs to one month and says which (all money in integer cents, USD):

* billed for the month (`billed_by_model`): what the month's work bills by the client's billing
  model: per-lead clients, interested leads of the month × price per lead (interested leads come
  from the `interested_leads` view, the count the Overview uses); retainer clients, the retainer;
* invoiced for the month: finalised Stripe invoices by the months their service period covers
  (`service_month`, the first month of the lines' period, not the invoice's creation date); an
  invoice whose lines recur yearly (or every n months) is spread evenly over those months, the
  odd cents on the first. Of that, collected (paid so far), outstanding (still open) and written
  off (uncollectible, or paid short);
* not yet invoiced: billed for a month that has no invoice for it yet; invoice difference: billed
  less invoiced for a month that has one (discounts, plan changes, leads left off the invoice;
  negative when Stripe invoiced more than the model). So billed = invoiced + not yet invoiced +
  invoice difference, and invoiced = collected + outstanding + written off;
* cash received in the month: invoices paid in it (`amount_paid` by `paid_at`), split by the month
  each payment is for: this month, earlier months, later months (paid in advance). Refunds are
  those made in the month; net cash = cash received − refunds;
* costs of the month: contact data (contacts pulled in the month × price per 1,000 by source),
  verification (contacts verified × Debounce price per 1,000), sending infrastructure (every
  mailbox and domain's monthly price, shared by the emails each client sent that month), Stripe
  fees (balance transaction fees of the client's charges and refunds) and manual cost lines
  (`workspace_costs`);
* profit and margin compare like periods: the month's billing less the month's costs, over the
  month's billing. Cash received is never set against the month's costs.

Prices are settings (core/platform/settings.py). Flags name what does not add up in a closed month.
"""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl

from core.platform import settings
from core.platform.renewals import add_months
from core.platform.scope import Scope
from core.platform.store import Database

MONEY_COLUMNS = [
    "billed_by_model",
    "invoiced",
    "not_yet_invoiced",
    "invoice_difference",
    "collected",
    "outstanding",
    "written_off",
    "cash_received",
    "cash_for_month",
    "cash_for_earlier",
    "cash_in_advance",
    "refunds",
    "net_cash",
    "data_cost",
    "verification_cost",
    "sending_cost",
    "stripe_fees",
    "manual_cost",
    "total_cost",
    "profit",
]
COST_COLUMNS = ["data_cost", "verification_cost", "sending_cost", "stripe_fees", "manual_cost"]
# Money per interested lead (cents): derived per row, never summed.
PER_LEAD_COLUMNS = ["cost_per_interested", "billed_per_interested"]

# The figures a client-month derives from its counts and money, as SQL over the columns
# interested, target, billed_by_model, total_cost and profit. The live table and a saved snapshot
# (core/revenue/admin.py) both compute them from here.
DERIVED_SQL = {
    "kpi_progress": "round(interested / nullif(target, 0), 3)::DOUBLE",
    "margin": "round(profit / nullif(billed_by_model, 0), 4)::DOUBLE",
    "cost_per_interested": "CAST(round(total_cost / nullif(interested, 0)) AS BIGINT)",
    "billed_per_interested": "CAST(round(billed_by_model / nullif(interested, 0)) AS BIGINT)",
}


def derived(name: str) -> str:
    """`DERIVED_SQL[name] AS name`, for a SELECT list."""
    return f"{DERIVED_SQL[name]} AS {name}"


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def month_end(m: dt.date) -> dt.date:
    """The first day of the month after `m`."""
    return add_months(m, 1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], month_start(first)
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


def _params(db: Database, first: dt.date, last: dt.date, as_of: dt.date) -> dict:
    conf = settings.get_all(db)
    prices = settings.parse_source_prices(conf["data_cost_by_source"])
    return {
        "first": first,
        "end": month_end(last),
        "current": month_start(as_of),
        "src_names": list(prices),
        "src_cents": list(prices.values()),
        "data_default": conf["data_cost_per_1000_cents"],
        "verify_price": conf["debounce_cost_per_1000_cents"],
        "mailbox": conf["mailbox_monthly_cents"],
        "domain": conf["domain_monthly_cents"],
    }


# Each finalised invoice of the clients (`cw`: customer → client), with the months its service
# period covers: one month, or as many as its recurring lines' interval (a yearly plan: twelve),
# spread over them evenly, the odd cents on the first. Invoices for months in [$first, $end) and
# invoices paid in it (whatever months they are for).
ALLOCATION_SQL = """
    invoice AS (
        SELECT i.id, cw.workspace_id, i.status, i.amount_due, i.amount_paid, i.paid_at, i.service_month,
               least(36, greatest(1, coalesce(max(
                   CASE l.interval WHEN 'year' THEN 12 WHEN 'month' THEN 1 END * coalesce(l.interval_count, 1)
               ) FILTER (WHERE NOT coalesce(l.proration, false)), 1)))::INTEGER AS span
        FROM stripe_invoices i JOIN cw USING (customer_id)
        LEFT JOIN stripe_invoice_lines l ON l.invoice_id = i.id
        WHERE i.status IN ('open', 'paid', 'uncollectible') AND i.service_month IS NOT NULL
          AND ((i.service_month >= $first - INTERVAL 36 MONTH AND i.service_month < $end)
               OR (i.paid_at >= $first AND i.paid_at < $end))
        GROUP BY ALL
    ),
    alloc AS (
        SELECT id, workspace_id, status, paid_at, (service_month + k * INTERVAL 1 MONTH)::DATE AS month,
               amount_due // span + CASE WHEN k = 0 THEN amount_due % span ELSE 0 END AS due,
               amount_paid // span + CASE WHEN k = 0 THEN amount_paid % span ELSE 0 END AS paid
        FROM (SELECT *, unnest(range(span)) AS k FROM invoice)
    ),
"""


def _client_months_sql(scope: Scope) -> str:
    f = scope.filter
    return f"""
    WITH months AS (
        SELECT unnest(generate_series($first::DATE, $end::DATE - INTERVAL 1 MONTH, INTERVAL 1 MONTH))::DATE AS month
    ),
    -- Each month's bounds as instants. Timestamps are put in their month by a range join on these
    -- (a few comparisons per row) rather than date_trunc on a TIMESTAMPTZ, whose time-zone lookup
    -- per row was half the cost of the page's history over 1.7M contacts. Same session time zone,
    -- same months.
    bounds AS (
        SELECT month, month::TIMESTAMPTZ AS lo, (month + INTERVAL 1 MONTH)::TIMESTAMPTZ AS hi
        FROM months
    ),
    w AS (
        SELECT id AS workspace_id, name AS client, billing_type, price_per_lead_cents, retainer_cents,
               monthly_target, date_trunc('month', created_at)::DATE AS since
        FROM workspaces WHERE {f("id")}
    ),
    grid AS (SELECT w.*, months.month FROM w CROSS JOIN months WHERE months.month >= w.since),
    cw AS (
        SELECT customer_id, workspace_id FROM stripe_customer_workspace
        WHERE workspace_id IS NOT NULL AND {f()}
    ),
    il AS (
        SELECT workspace_id, b.month, count(*) AS interested
        FROM interested_leads JOIN bounds b ON interested_at >= b.lo AND interested_at < b.hi
        WHERE interested_at >= $first AND interested_at < $end AND {f()}
        GROUP BY ALL
    ),
{ALLOCATION_SQL}    inv AS (
        SELECT workspace_id, month, sum(due)::BIGINT AS invoiced, sum(paid)::BIGINT AS collected,
               coalesce(sum(due - paid) FILTER (WHERE status = 'open'), 0)::BIGINT AS outstanding,
               coalesce(sum(due - paid) FILTER (WHERE status <> 'open'), 0)::BIGINT AS written_off,
               count(*) AS invoices
        FROM alloc WHERE month >= $first AND month < $end GROUP BY ALL
    ),
    -- cash: what was paid in each month, by the month it pays for
    cash AS (
        SELECT a.workspace_id, b.month, sum(a.paid)::BIGINT AS cash_received,
               coalesce(sum(a.paid) FILTER (WHERE a.month = b.month), 0)::BIGINT AS cash_for_month,
               coalesce(sum(a.paid) FILTER (WHERE a.month < b.month), 0)::BIGINT AS cash_for_earlier,
               coalesce(sum(a.paid) FILTER (WHERE a.month > b.month), 0)::BIGINT AS cash_in_advance
        FROM alloc a JOIN bounds b ON a.paid_at >= b.lo AND a.paid_at < b.hi
        WHERE a.paid_at >= $first AND a.paid_at < $end GROUP BY ALL
    ),
    refunds AS (
        SELECT cw.workspace_id, date_trunc('month', r.created)::DATE AS month, sum(r.amount)::BIGINT AS refunds
        FROM stripe_refunds r JOIN stripe_charges c ON c.id = r.charge_id
        JOIN cw ON cw.customer_id = c.customer_id
        WHERE r.created >= $first AND r.created < $end
          AND coalesce(r.status, 'succeeded') NOT IN ('failed', 'canceled') GROUP BY ALL
    ),
    fees AS (
        SELECT cw.workspace_id, date_trunc('month', b.created)::DATE AS month, sum(b.fee)::BIGINT AS fees
        FROM stripe_balance_transactions b LEFT JOIN stripe_refunds r ON r.id = b.source_id
        JOIN stripe_charges c ON c.id = coalesce(r.charge_id, b.source_id)
        JOIN cw ON cw.customer_id = c.customer_id
        WHERE b.created >= $first AND b.created < $end GROUP BY ALL
    ),
    src AS (SELECT unnest($src_names::VARCHAR[]) AS source, unnest($src_cents::BIGINT[]) AS cents),
    pulled AS (
        SELECT workspace_id, b.month, source, count(*) AS n,
               -- paid Debounce checks only: a free local check (source 'local') costs nothing
               count(verification_result) FILTER (WHERE coalesce(verification_source, '') <> 'local') AS verified
        FROM contacts JOIN bounds b ON imported_at >= b.lo AND imported_at < b.hi
        WHERE imported_at >= $first AND imported_at < $end AND {f()} GROUP BY ALL
    ),
    data AS (
        SELECT workspace_id, month, sum(n)::BIGINT AS contacts, sum(verified)::BIGINT AS verified,
               ((sum(n * coalesce(src.cents, $data_default)) + 500) // 1000)::BIGINT AS data_cost,
               ((sum(verified) * $verify_price + 500) // 1000)::BIGINT AS verification_cost
        FROM pulled LEFT JOIN src USING (source) GROUP BY ALL
    ),
    sent AS (
        SELECT workspace_id, date_trunc('month', day)::DATE AS month, sum(sent)::BIGINT AS sent
        FROM bison_campaign_daily WHERE day >= $first AND day < $end GROUP BY ALL
    ),
    pool AS (
        SELECT count(*) * $mailbox + count(DISTINCT lower(split_part(email, '@', 2))) * $domain AS cents
        FROM bison_sender_emails
    ),
    sending AS (
        SELECT s.workspace_id, s.month, s.sent,
               CAST(round(pool.cents * s.sent / nullif(sum(s.sent) OVER (PARTITION BY s.month), 0)) AS BIGINT) AS cost
        FROM sent s, pool
    ),
    cover AS (
        SELECT DISTINCT cw.workspace_id, m.month
        FROM stripe_invoice_lines l JOIN stripe_invoices i ON i.id = l.invoice_id
        JOIN cw USING (customer_id), months m
        WHERE i.status IN ('open', 'paid', 'uncollectible') AND l.line_type = 'subscription'
          AND l.period_start < m.month + INTERVAL 1 MONTH AND l.period_end > m.month + INTERVAL 14 DAY
    ),
    manual AS (
        SELECT workspace_id, month, sum(amount_cents)::BIGINT AS manual_cost FROM workspace_costs
        WHERE month >= $first AND month < $end AND {f()} GROUP BY ALL
    ),
    j AS (
        SELECT g.month, g.workspace_id, g.client, g.billing_type, g.monthly_target AS target,
               g.price_per_lead_cents, coalesce(il.interested, 0) AS interested,
               CASE WHEN g.billing_type = 'per_lead' THEN coalesce(il.interested, 0) * g.price_per_lead_cents
                    ELSE g.retainer_cents END AS billed_by_model,
               coalesce(inv.invoiced, 0) AS invoiced, coalesce(inv.collected, 0) AS collected,
               coalesce(inv.outstanding, 0) AS outstanding, coalesce(inv.written_off, 0) AS written_off,
               coalesce(inv.invoices, 0) AS invoices,
               coalesce(cash.cash_received, 0) AS cash_received,
               coalesce(cash.cash_for_month, 0) AS cash_for_month,
               coalesce(cash.cash_for_earlier, 0) AS cash_for_earlier,
               coalesce(cash.cash_in_advance, 0) AS cash_in_advance,
               coalesce(refunds.refunds, 0) AS refunds,
               coalesce(cash.cash_received, 0) - coalesce(refunds.refunds, 0) AS net_cash,
               coalesce(data.contacts, 0) AS contacts_pulled,
               coalesce(data.data_cost, 0) AS data_cost,
               coalesce(data.verification_cost, 0) AS verification_cost,
               coalesce(sending.sent, 0) AS emails_sent, coalesce(sending.cost, 0) AS sending_cost,
               coalesce(fees.fees, 0) AS stripe_fees, coalesce(manual.manual_cost, 0) AS manual_cost,
               g.month < $current AS closed, cover.month IS NOT NULL AS covered
        FROM grid g
        LEFT JOIN il USING (workspace_id, month) LEFT JOIN inv USING (workspace_id, month)
        LEFT JOIN cash USING (workspace_id, month) LEFT JOIN refunds USING (workspace_id, month)
        LEFT JOIN data USING (workspace_id, month) LEFT JOIN sending USING (workspace_id, month)
        LEFT JOIN fees USING (workspace_id, month) LEFT JOIN manual USING (workspace_id, month)
        LEFT JOIN cover USING (workspace_id, month)
    ),
    t AS (
        SELECT *, data_cost + verification_cost + sending_cost + stripe_fees + manual_cost AS total_cost
        FROM j
    ),
    p AS (
        SELECT *,
               CASE WHEN invoices = 0 THEN billed_by_model - invoiced ELSE 0 END AS not_yet_invoiced,
               CASE WHEN invoices > 0 THEN billed_by_model - invoiced ELSE 0 END AS invoice_difference,
               billed_by_model - total_cost AS profit
        FROM t
    )
    SELECT month, workspace_id, client, billing_type, target, interested,
           {derived("kpi_progress")},
           billed_by_model, invoiced, not_yet_invoiced, invoice_difference, collected, outstanding,
           written_off, cash_received, cash_for_month, cash_for_earlier, cash_in_advance, refunds,
           net_cash, data_cost, verification_cost, sending_cost, stripe_fees, manual_cost, total_cost, profit,
           {derived("margin")},
           {derived("cost_per_interested")},
           {derived("billed_per_interested")},
           CAST(round(total_cost * 1000 / nullif(contacts_pulled, 0)) AS BIGINT) AS cost_per_1000_contacts,
           contacts_pulled, emails_sent, invoices, closed,
           concat_ws('; ',
             CASE WHEN closed AND billing_type = 'per_lead' AND invoiced < billed_by_model
                  THEN 'unbilled leads: ' || CAST((billed_by_model - invoiced) // nullif(price_per_lead_cents, 0) AS VARCHAR) END,
             CASE WHEN billing_type = 'per_lead' AND invoiced > 0 AND interested = 0
                  THEN 'invoice without delivered leads' END,
             CASE WHEN closed AND billing_type = 'per_lead' AND interested > 0 AND invoiced > billed_by_model
                  THEN 'invoiced more than delivered' END,
             CASE WHEN closed AND billing_type = 'retainer' AND billed_by_model > 0 AND NOT covered
                  AND invoiced = 0 THEN 'retainer not invoiced' END,
             CASE WHEN closed AND collected < invoiced THEN 'not fully collected' END
           ) AS flags
    FROM p
    """


def client_months(
    db: Database, scope: Scope, first: dt.date, last: dt.date, as_of: dt.date
) -> pl.DataFrame:
    """One row per client and month in [first, last] (months the client existed)."""
    df = db.query(
        _client_months_sql(scope) + " ORDER BY month, client",
        _params(db, month_start(first), month_start(last), as_of),
    )
    return df.with_columns(pl.col("flags").replace("", None))


def client_month(db: Database, scope: Scope, month: dt.date, as_of: dt.date) -> pl.DataFrame:
    """The per-client table for one month, most profitable first."""
    return of_month(client_months(db, scope, month, month, as_of), month)


def of_month(window: pl.DataFrame, month: dt.date) -> pl.DataFrame:
    """One month of a `client_months` frame, as `client_month` gives it."""
    df = window.filter(pl.col("month") == month_start(month)).drop("month")
    return df.sort("profit", descending=True)


def totals(df: pl.DataFrame) -> dict:
    """Agency totals of a per-client frame (money in cents)."""
    out = {
        c: int(df[c].sum() or 0)
        for c in MONEY_COLUMNS + ["interested", "target"]
        if c in df.columns
    }
    billed = out.get("billed_by_model")
    out["margin"] = round(out["profit"] / billed, 4) if billed else None
    out["cost_per_interested"] = (
        round(out["total_cost"] / out["interested"]) if out.get("interested") else None
    )
    out["billed_per_interested"] = (
        round(out["billed_by_model"] / out["interested"]) if out.get("interested") else None
    )
    out["flagged_clients"] = int(df["flags"].is_not_null().sum()) if "flags" in df.columns else 0
    return out


def history(db: Database, scope: Scope, months: int, as_of: dt.date) -> pl.DataFrame:
    """Billed, invoiced, cash, costs and profit per month for the last `months` months, with
    month-over-month change of the billing and the profit."""
    last = month_start(as_of)
    first = add_months(last, -(months - 1))
    df = client_months(db, scope, first, last, as_of)
    sums = df.group_by("month").agg(
        pl.col("interested").sum(), *[pl.col(c).sum() for c in MONEY_COLUMNS]
    )
    out = (
        pl.DataFrame({"month": months_between(first, last)}, schema={"month": pl.Date})
        .join(sums, on="month", how="left")
        .fill_null(0)
        .sort("month")
    )
    return out.with_columns(
        (pl.col("profit") / pl.col("billed_by_model")).round(4).alias("margin"),
        (
            (pl.col("billed_by_model") - pl.col("billed_by_model").shift(1))
            / pl.col("billed_by_model").shift(1)
        )
        .round(4)
        .alias("billed_mom"),
        (pl.col("profit") - pl.col("profit").shift(1)).alias("profit_change"),
    )


def unmapped_revenue(db: Database, month: dt.date) -> int:
    """Paid invoices of the month from Stripe customers mapped to no client (agency-wide)."""
    return int(
        db.scalar(
            """
            SELECT coalesce(sum(i.amount_paid), 0) FROM stripe_invoices i
            JOIN stripe_customer_workspace m USING (customer_id)
            WHERE m.workspace_id IS NULL AND i.status = 'paid' AND i.paid_at >= ? AND i.paid_at < ?
            """,
            [month, month_end(month)],
        )
    )


def days_in_month(m: dt.date) -> int:
    return calendar.monthrange(m.year, m.month)[1]


def cash_by_service_month(db: Database, scope: Scope, month: dt.date) -> pl.DataFrame:
    """Cash received in `month` per client, by the month each payment is for (`for_month`):
    the parts of the invoices paid in the month, as `client_months` splits them. Sums to its
    `cash_received`."""
    f = scope.filter
    return db.query(
        f"""
        WITH cw AS (
            SELECT customer_id, workspace_id FROM stripe_customer_workspace
            WHERE workspace_id IS NOT NULL AND {f()}
        ),
        {ALLOCATION_SQL}
        SELECT a.workspace_id, w.name AS client, a.month AS for_month, sum(a.paid)::BIGINT AS cash
        FROM alloc a JOIN workspaces w ON w.id = a.workspace_id
        WHERE a.paid_at >= $first::TIMESTAMPTZ AND a.paid_at < $end::TIMESTAMPTZ
        GROUP BY ALL HAVING sum(a.paid) <> 0 ORDER BY client, for_month
        """,
        {"first": month_start(month), "end": month_end(month_start(month))},
    )
