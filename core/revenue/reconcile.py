"""How a month's figures add up: what the month's work bills, what was invoiced and collected for
it, and the cash received in it for this month, earlier months and later ones, as labelled lines.

Three identities hold for every client and month, and for their sums (money in cents):

* billed for the month = invoiced for it + not yet invoiced + invoice difference;
* invoiced for the month = collected for it + outstanding + written off;
* cash received in the month = paid for this month + paid for earlier months + paid in advance.

Net cash = cash received − refunds made in the month.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from core.platform.renewals import add_months
from core.revenue import months as revenue

BILLING_MODELS = {"per_lead": "Per lead", "retainer": "Retainer"}

IDENTITIES = {
    "billed_by_model": ["invoiced", "not_yet_invoiced", "invoice_difference"],
    "invoiced": ["collected", "outstanding", "written_off"],
    "cash_received": ["cash_for_month", "cash_for_earlier", "cash_in_advance"],
}


def model_label(billing_type: str | None) -> str:
    """`per_lead` → "Per lead"; an unknown model in plain words all the same."""
    if not billing_type:
        return "–"
    return BILLING_MODELS.get(billing_type, billing_type.replace("_", " ").capitalize())


def window(month: dt.date, as_of: dt.date) -> str:
    """The dates a month's figures cover: the whole month once it is over, else up to `as_of`."""
    month = revenue.month_start(month)
    if month == revenue.month_start(as_of):
        days = "1" if as_of.day == 1 else f"1–{as_of.day}"
        return f"{month:%b} {days}, {month.year} (month to date)"
    last = add_months(month, 1) - dt.timedelta(days=1)
    return f"{month:%b} 1–{last.day}, {month.year}"


def broken(row: dict) -> list[str]:
    """The identities that do not hold for a client-month row or a totals dict (empty: all do)."""
    out = []
    for total, parts in IDENTITIES.items():
        if row[total] != sum(row[p] for p in parts):
            out.append(f"{total} ≠ {' + '.join(parts)}")
    if row["net_cash"] != row["cash_received"] - row["refunds"]:
        out.append("net_cash ≠ cash_received − refunds")
    return out


def lines(tot: dict, cash: pl.DataFrame, month: dt.date, as_of: dt.date) -> pl.DataFrame:
    """The month's reconciling lines (`figure`, `amount` in cents, `part`: False for a total,
    True for a line that adds up to the total above it). `tot` is `months.totals` of the month's
    table, `cash` its `months.cash_by_service_month`: the cash paid for earlier months is listed
    by the month it is for."""
    month = revenue.month_start(month)
    m = f"{month:%B %Y}"
    rows: list[tuple[str, int, bool]] = [
        (f"Billed for {m} (by each client's billing model)", tot["billed_by_model"], False),
        (f"= invoiced for {m}", tot["invoiced"], True),
        ("+ not yet invoiced", tot["not_yet_invoiced"], True),
        (
            "+ billed less invoiced (discounts, plan changes, leads left off an invoice)",
            tot["invoice_difference"],
            True,
        ),
        (f"Invoiced for {m}", tot["invoiced"], False),
        (f"= collected for {m} (paid so far)", tot["collected"], True),
        ("+ outstanding (invoices still open)", tot["outstanding"], True),
        ("+ written off (uncollectible or paid short)", tot["written_off"], True),
        (f"Cash received in {m} (invoices paid in it)", tot["cash_received"], False),
        (f"= for {m}", tot["cash_for_month"], True),
    ]
    earlier = (
        cash.filter(pl.col("for_month") < month)
        .group_by("for_month")
        .agg(pl.col("cash").sum())
        .sort("for_month", descending=True)
    )
    for r in earlier.iter_rows(named=True):
        rows.append((f"+ for {r['for_month']:%B %Y}", int(r["cash"]), True))
    if earlier.height == 0:
        rows.append(("+ for earlier months", 0, True))
    rows += [
        ("+ in advance, for later months", tot["cash_in_advance"], True),
        (f"Refunds made in {m}", tot["refunds"], False),
        (f"Net cash received in {m} (cash received less refunds)", tot["net_cash"], False),
    ]
    return pl.DataFrame(
        rows, schema={"figure": pl.Utf8, "amount": pl.Int64, "part": pl.Boolean}, orient="row"
    )
