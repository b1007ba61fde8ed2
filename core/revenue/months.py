"""Revenue, costs, profit and margin per client and month; agency totals and history.

Definitions (all money in integer cents, USD):

* revenue: invoices paid in the month (`amount_paid`, by `paid_at`) less refunds made in the
  month, for the Stripe customers mapped to the client (see core/revenue/stripe_sync.py);
* billed by model: per-lead clients, interested leads of the month × price per lead (interested
  leads come from the `interested_leads` view, the count the Overview uses); retainer clients,
  the retainer;
* invoiced / collected: what Stripe invoiced for the month (finalised invoices by the month they
  bill for, `service_month`) and how much of that has been paid;
* costs: contact data (contacts pulled in the month × price per 1,000 by source), verification
  (contacts verified × Debounce price per 1,000), sending infrastructure (every mailbox and
  domain's monthly price, shared by the emails each client sent that month), Stripe fees (balance
  transaction fees of the client's charges and refunds) and manual cost lines (`workspace_costs`).

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
    "collected",
    "revenue",
    "refunds",
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
PER_LEAD_COLUMNS = ["cost_per_interested", "revenue_per_interested"]

# The figures a client-month derives from its counts and money, as SQL over the columns
# interested, target, revenue, total_cost and profit. The live table and a saved snapshot
# (core/revenue/admin.py) both compute them from here.
DERIVED_SQL = {
    "kpi_progress": "round(interested / nullif(target, 0), 3)::DOUBLE",
    "margin": "round(profit / nullif(revenue, 0), 4)::DOUBLE",
    "cost_per_interested": "CAST(round(total_cost / nullif(interested, 0)) AS BIGINT)",
    "revenue_per_interested": "CAST(round(revenue / nullif(interested, 0)) AS BIGINT)",
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
        "verify_price": conf["verification_cost_per_1000_cents"],
        "mailbox": conf["mailbox_monthly_cents"],
        "domain": conf["domain_monthly_cents"],
    }


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
    paid AS (
        SELECT cw.workspace_id, date_trunc('month', i.paid_at)::DATE AS month, sum(i.amount_paid)::BIGINT AS paid
        FROM stripe_invoices i JOIN cw USING (customer_id)
        WHERE i.status = 'paid' AND i.paid_at >= $first AND i.paid_at < $end GROUP BY ALL
    ),
    inv AS (
        SELECT cw.workspace_id, i.service_month AS month, sum(i.amount_due)::BIGINT AS invoiced,
               sum(i.amount_paid)::BIGINT AS collected, count(*) AS invoices
        FROM stripe_invoices i JOIN cw USING (customer_id)
        WHERE i.status IN ('open', 'paid', 'uncollectible')
          AND i.service_month >= $first AND i.service_month < $end GROUP BY ALL
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
        SELECT workspace_id, b.month, source, count(*) AS n, count(verification_result) AS verified
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
               coalesce(inv.invoices, 0) AS invoices,
               coalesce(paid.paid, 0) - coalesce(refunds.refunds, 0) AS revenue,
               coalesce(refunds.refunds, 0) AS refunds,
               coalesce(data.contacts, 0) AS contacts_pulled,
               coalesce(data.data_cost, 0) AS data_cost,
               coalesce(data.verification_cost, 0) AS verification_cost,
               coalesce(sending.sent, 0) AS emails_sent, coalesce(sending.cost, 0) AS sending_cost,
               coalesce(fees.fees, 0) AS stripe_fees, coalesce(manual.manual_cost, 0) AS manual_cost,
               g.month < $current AS closed, cover.month IS NOT NULL AS covered
        FROM grid g
        LEFT JOIN il USING (workspace_id, month) LEFT JOIN inv USING (workspace_id, month)
        LEFT JOIN paid USING (workspace_id, month) LEFT JOIN refunds USING (workspace_id, month)
        LEFT JOIN data USING (workspace_id, month) LEFT JOIN sending USING (workspace_id, month)
        LEFT JOIN fees USING (workspace_id, month) LEFT JOIN manual USING (workspace_id, month)
        LEFT JOIN cover USING (workspace_id, month)
    ),
    t AS (
        SELECT *, data_cost + verification_cost + sending_cost + stripe_fees + manual_cost AS total_cost
        FROM j
    ),
    p AS (SELECT *, revenue - total_cost AS profit FROM t)
    SELECT month, workspace_id, client, billing_type, target, interested,
           {derived("kpi_progress")},
           billed_by_model, invoiced, collected, revenue, refunds,
           data_cost, verification_cost, sending_cost, stripe_fees, manual_cost, total_cost, profit,
           {derived("margin")},
           {derived("cost_per_interested")},
           {derived("revenue_per_interested")},
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
    out["margin"] = round(out["profit"] / out["revenue"], 4) if out.get("revenue") else None
    out["cost_per_interested"] = (
        round(out["total_cost"] / out["interested"]) if out.get("interested") else None
    )
    out["revenue_per_interested"] = (
        round(out["revenue"] / out["interested"]) if out.get("interested") else None
    )
    out["flagged_clients"] = int(df["flags"].is_not_null().sum()) if "flags" in df.columns else 0
    return out


def history(db: Database, scope: Scope, months: int, as_of: dt.date) -> pl.DataFrame:
    """Revenue, costs and profit per month for the last `months` months, with month-over-month."""
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
        (pl.col("profit") / pl.col("revenue")).round(4).alias("margin"),
        ((pl.col("revenue") - pl.col("revenue").shift(1)) / pl.col("revenue").shift(1))
        .round(4)
        .alias("revenue_mom"),
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
