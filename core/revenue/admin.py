"""Revenue beyond the month table: MRR movements from the Stripe mirror, the current month's
forecast, month snapshots and manual cost lines.

Forecast for the running month = booked recurring revenue (the MRR of the clients' Stripe
subscriptions, or a retainer client's retainer when it has none in Stripe) + per-lead usage:
interested leads so far × price, plus the rest of the month at each client's pace so far. The
range is an 80% interval treating each client's remaining leads as Poisson counts.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation

import polars as pl

from core.accounts import access
from core.platform import audit
from core.platform.renewals import add_months
from core.platform.scope import Scope
from core.platform.store import Database
from core.revenue import months as revenue
from core.revenue import mrr

Z80 = 1.2816  # two-sided 80% normal quantile
FORECAST_MONEY_COLUMNS = [
    "booked_recurring",
    "usage_so_far",
    "expected_rest_of_month",
    "forecast",
    "last_month_billed",
]
# Every money column (integer cents) of the frames the Revenue page shows, by name: the month
# table and history, the forecast, MRR, snapshot differences, manual cost lines (`amount`) and
# unmapped Stripe customers (`paid`).
CENTS_COLUMNS = [
    *revenue.MONEY_COLUMNS,
    *revenue.PER_LEAD_COLUMNS,
    "cost_per_1000_contacts",
    "profit_change",
    *FORECAST_MONEY_COLUMNS,
    "snapshot",
    "live",
    "difference",
    "amount",
    "paid",
    "starting_mrr",
    "mrr",
    *mrr.MOVEMENTS,
]


class RevenueError(ValueError):
    pass


def to_dollars(df: pl.DataFrame) -> pl.DataFrame:
    """Its money columns (`CENTS_COLUMNS`) in dollars, for display: exact to the cent, as every
    sum is done in cents first."""
    return df.with_columns([(pl.col(c) / 100).alias(c) for c in CENTS_COLUMNS if c in df.columns])


# -- MRR --------------------------------------------------------------------------------------


def _customers_in(scope: Scope) -> str:
    return f"({scope.filter('m.workspace_id')})"


def mrr_phases(db: Database, scope: Scope) -> list[mrr.Phase]:
    where = _customers_in(scope)
    lines = db.query(
        f"""
        SELECT coalesce(l.subscription_id, i.subscription_id) AS subscription_id, i.customer_id,
               l.period_start, l.period_end, l.amount, l.discount_amount, l.interval,
               l.interval_count, l.proration
        FROM stripe_invoice_lines l JOIN stripe_invoices i ON i.id = l.invoice_id
        JOIN stripe_customer_workspace m ON m.customer_id = i.customer_id
        WHERE i.status IN ('paid', 'open', 'uncollectible') AND l.line_type = 'subscription'
          AND {where}
        """
    ).to_dicts()
    customer_of = {r["subscription_id"]: r["customer_id"] for r in lines if r["subscription_id"]}
    phases = mrr.line_phases(lines, customer_of)
    subs = db.query(
        f"""
        SELECT s.* FROM stripe_subscriptions s
        JOIN stripe_customer_workspace m ON m.customer_id = s.customer_id WHERE {where}
        """
    ).to_dicts()
    items = db.query(
        f"""
        SELECT it.* FROM stripe_subscription_items it
        JOIN stripe_subscriptions s ON s.id = it.subscription_id
        JOIN stripe_customer_workspace m ON m.customer_id = s.customer_id WHERE {where}
        """
    ).to_dicts()
    by_sub: dict[str, list[dict]] = {}
    for it in items:
        by_sub.setdefault(it["subscription_id"], []).append(it)
    for s in subs:
        if s.get("current_period_start") is None and s.get("start_date") is None:
            continue
        phases += mrr.subscription_phases(s, by_sub.get(s["id"], []))
    return phases


def mrr_movements(db: Database, scope: Scope, months: int, as_of: dt.date) -> pl.DataFrame:
    """MRR at each month's end (today for the running month) and the movements into it."""
    last = revenue.month_start(as_of)
    month_list = [add_months(last, -k) for k in range(months - 1, -1, -1)]
    point = dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.UTC)
    rows = mrr.month_series(mrr_phases(db, scope), month_list, point)
    return pl.DataFrame(
        [{k: v for k, v in r.items() if k != "by_customer"} for r in rows],
        schema={
            "month": pl.Date,
            "starting_mrr": pl.Int64,
            **dict.fromkeys(mrr.MOVEMENTS, pl.Int64),
            "mrr": pl.Int64,
            "customers": pl.Int64,
        },
    )


def mrr_by_client(db: Database, scope: Scope, as_of: dt.date) -> dict[int, int]:
    point = dt.datetime.combine(as_of, dt.time(23, 59, 59), tzinfo=dt.UTC)
    by_customer = mrr.mrr_at(mrr_phases(db, scope), point)
    owners = dict(
        db.rows(
            "SELECT customer_id, workspace_id FROM stripe_customer_workspace WHERE workspace_id IS NOT NULL"
        )
    )
    out: dict[int, int] = {}
    for c, v in by_customer.items():
        if c in owners:
            out[owners[c]] = out.get(owners[c], 0) + v
    return out


# -- forecast ---------------------------------------------------------------------------------


def forecast(
    db: Database, scope: Scope, as_of: dt.date, window: pl.DataFrame | None = None
) -> dict:
    """The running month's expected revenue with an 80% range, against last month.

    `window` may hand in `revenue.client_months` of last month and this one, already read."""
    start = revenue.month_start(as_of)
    days = revenue.days_in_month(start)
    elapsed = min(as_of.day, days)
    remaining = days - elapsed
    both = (
        window
        if window is not None
        else revenue.client_months(db, scope, add_months(start, -1), start, as_of)
    )
    now = both.filter(pl.col("month") == start)
    prev = both.filter(pl.col("month") == add_months(start, -1))
    subs_mrr = mrr_by_client(db, scope, as_of)
    rows = []
    var = 0.0
    for r in now.iter_rows(named=True):
        booked = subs_mrr.get(r["workspace_id"], 0)
        if r["billing_type"] == "retainer" and booked == 0:
            booked = r["billed_by_model"]
        usage, expected, lam = 0, 0, 0.0
        if r["billing_type"] == "per_lead":
            price = r["billed_by_model"] // r["interested"] if r["interested"] else 0
            price = price or int(
                db.scalar(
                    "SELECT price_per_lead_cents FROM workspaces WHERE id = ?", [r["workspace_id"]]
                )
            )
            usage = r["billed_by_model"]
            lam = r["interested"] / elapsed * remaining
            expected = round(lam * price)
            var += lam * price * price
        rows.append(
            {
                "workspace_id": r["workspace_id"],
                "client": r["client"],
                "billing_type": r["billing_type"],
                "booked_recurring": booked,
                "usage_so_far": usage,
                "expected_rest_of_month": expected,
                "forecast": booked + usage + expected,
                "last_month_billed": 0,
            }
        )
    prev_billed = dict(zip(prev["workspace_id"], prev["billed_by_model"], strict=False))
    for r in rows:
        r["last_month_billed"] = int(prev_billed.get(r["workspace_id"], 0))
    per_client = pl.DataFrame(
        rows,
        schema={
            "workspace_id": pl.Int32,
            "client": pl.Utf8,
            "billing_type": pl.Utf8,
            "booked_recurring": pl.Int64,
            "usage_so_far": pl.Int64,
            "expected_rest_of_month": pl.Int64,
            "forecast": pl.Int64,
            "last_month_billed": pl.Int64,
        },
    ).sort("forecast", descending=True)
    mid = int(per_client["forecast"].sum() or 0)
    spread = round(Z80 * math.sqrt(var))
    floor = int(
        (per_client["booked_recurring"].sum() or 0) + (per_client["usage_so_far"].sum() or 0)
    )
    last_billed = int(prev["billed_by_model"].sum() or 0)
    return {
        "month": start,
        "days_elapsed": elapsed,
        "days_in_month": days,
        "booked_recurring": int(per_client["booked_recurring"].sum() or 0),
        "usage_so_far": int(per_client["usage_so_far"].sum() or 0),
        "expected_rest_of_month": int(per_client["expected_rest_of_month"].sum() or 0),
        "forecast": mid,
        "low": max(floor, mid - spread),
        "high": mid + spread,
        "last_month_billed": last_billed,
        "last_month_cash": int(prev["net_cash"].sum() or 0),
        "vs_last_month": round((mid - last_billed) / last_billed, 4) if last_billed else None,
        "per_client": per_client,
    }


# -- snapshots --------------------------------------------------------------------------------

SNAPSHOT_COLUMNS = ["interested", *revenue.MONEY_COLUMNS]


def save_snapshot(db: Database, user: access.User, month: dt.date, as_of: dt.date) -> int:
    """Persist the month's per-client numbers (replacing an earlier snapshot); audited."""
    access.require(user, "revenue.manage")
    month = revenue.month_start(month)
    if month > revenue.month_start(as_of):
        raise RevenueError(f"Month: {month:%B %Y} has not started yet.")
    df = revenue.client_month(db, Scope.all(), month, as_of)
    snap = df.select(
        pl.lit(month).alias("month"),
        "workspace_id",
        "client",
        "billing_type",
        *SNAPSHOT_COLUMNS,
        pl.lit(user.email).alias("saved_by"),
    )
    had = db.scalar("SELECT count(*) FROM revenue_snapshots WHERE month = ?", [month])
    with db.transaction() as cur:
        cur.execute("DELETE FROM revenue_snapshots WHERE month = ?", [month])
        cur.register("_snap", snap.to_arrow())
        cur.execute("INSERT INTO revenue_snapshots BY NAME SELECT * FROM _snap")
        cur.unregister("_snap")
        audit.record(
            cur,
            actor=user.email,
            action="revenue.snapshot",
            entity="revenue_month",
            entity_id=month.isoformat(),
            before={"replaced_rows": had} if had else None,
            after={
                "clients": snap.height,
                "billed": int(snap["billed_by_model"].sum() or 0),
                "profit": int(snap["profit"].sum() or 0),
            },
        )
    return snap.height


def snapshot(db: Database, scope: Scope, month: dt.date) -> pl.DataFrame:
    """The month's saved snapshot, most profitable first, with the figures the live table derives
    from it (`revenue.DERIVED_SQL`: KPI progress, margin, cost and revenue per interested lead).
    The target is the client's current one, as in the live table; a snapshot has no flags."""
    return db.query(
        f"""
        SELECT *, {", ".join(revenue.derived(c) for c in revenue.DERIVED_SQL)},
               NULL::VARCHAR AS flags
        FROM (
            SELECT s.*, w.monthly_target AS target
            FROM revenue_snapshots s LEFT JOIN workspaces w ON w.id = s.workspace_id
            WHERE s.month = ? AND {scope.filter("s.workspace_id")}
        )
        ORDER BY profit DESC
        """,
        [revenue.month_start(month)],
    )


def snapshot_months(db: Database) -> pl.DataFrame:
    return db.query(
        "SELECT month, count(*) AS clients, sum(billed_by_model)::BIGINT AS billed_by_model,"
        " sum(profit)::BIGINT AS profit,"
        " max(saved_at) AS saved_at, any_value(saved_by) AS saved_by"
        " FROM revenue_snapshots GROUP BY month ORDER BY month DESC"
    )


def snapshot_differences(snap: pl.DataFrame, live: pl.DataFrame) -> pl.DataFrame:
    """Where live data now differs from the snapshot: one row per client and figure. A figure an
    older snapshot did not keep (NULL for a client it has) is not a difference."""
    cols = [c for c in SNAPSHOT_COLUMNS if c in live.columns and c in snap.columns]
    joined = snap.select("workspace_id", "client", *cols, pl.lit(True).alias("_kept")).join(
        live.select("workspace_id", *cols),
        on="workspace_id",
        how="full",
        suffix="_live",
        coalesce=True,
    )
    parts = [
        joined.filter(pl.col(c).is_not_null() | pl.col("_kept").is_null()).select(
            "client",
            pl.lit(c).alias("figure"),
            pl.col(c).fill_null(0).alias("snapshot"),
            pl.col(f"{c}_live").fill_null(0).alias("live"),
        )
        for c in cols
    ]
    out = pl.concat(parts) if parts else pl.DataFrame()
    if out.height == 0:
        return out
    return out.with_columns((pl.col("live") - pl.col("snapshot")).alias("difference")).filter(
        pl.col("difference") != 0
    )


# -- manual cost lines ------------------------------------------------------------------------


def manual_costs(db: Database, scope: Scope, month: dt.date) -> pl.DataFrame:
    return db.query(
        f"""
        SELECT w.name AS client, c.category, c.amount_cents, c.note, c.updated_by, c.updated_at
        FROM workspace_costs c JOIN workspaces w ON w.id = c.workspace_id
        WHERE c.month = ? AND {scope.filter("c.workspace_id")} ORDER BY w.name, c.category
        """,
        [revenue.month_start(month)],
    )


def parse_dollars(value: object, where: str) -> int:
    """'$1,250.50' -> 125050 cents exactly; errors name the row and field."""
    text = str(value if value is not None else "").strip().replace("$", "").replace(",", "")
    if not text:
        raise RevenueError(f"{where}, amount: enter an amount in dollars, e.g. 1250.00.")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise RevenueError(f"{where}, amount: {value!r} is not a number of dollars.") from None
    if d != d.quantize(Decimal("0.01")):
        raise RevenueError(f"{where}, amount: {value!r} has more than two decimals (cents).")
    return int(d * 100)


def save_manual_costs(
    db: Database, user: access.User, month: dt.date, rows: list[dict]
) -> dict[str, int]:
    """Replace the month's manual cost lines with `rows` (client, category, amount in dollars,
    note). Every added, changed or removed line is audited. Nothing is saved if any row is bad."""
    access.require(user, "revenue.manage")
    month = revenue.month_start(month)
    names = {n.lower(): i for i, n in db.rows("SELECT id, name FROM workspaces")}
    wanted: dict[tuple[int, str], tuple[int, str | None]] = {}
    for n, r in enumerate(rows, start=1):
        where = f"Row {n}"
        client = str(r.get("client") or "").strip()
        if not client:
            raise RevenueError(f"{where}, client: pick the client the cost belongs to.")
        wid = names.get(client.lower())
        if wid is None:
            raise RevenueError(f"{where}, client: no client named {client!r}.")
        category = str(r.get("category") or "").strip()
        if not category:
            raise RevenueError(f"{where}, category: name the cost (e.g. account management).")
        cents = parse_dollars(r.get("amount"), where)
        if (wid, category.lower()) in {(k[0], k[1].lower()) for k in wanted}:
            raise RevenueError(f"{where}: {client} already has a {category!r} line this month.")
        note = str(r.get("note") or "").strip() or None
        wanted[(wid, category)] = (cents, note)
    existing = {
        (wid, cat): (amt, note)
        for wid, cat, amt, note in db.rows(
            "SELECT workspace_id, category, amount_cents, note FROM workspace_costs WHERE month = ?",
            [month],
        )
    }
    changes = {"added": 0, "changed": 0, "removed": 0}
    with db.transaction() as cur:
        for key, before in existing.items():
            if key not in wanted:
                cur.execute(
                    "DELETE FROM workspace_costs WHERE workspace_id = ? AND month = ? AND category = ?",
                    [key[0], month, key[1]],
                )
                _audit_cost(cur, user, month, key, before, None)
                changes["removed"] += 1
        for key, after in wanted.items():
            before = existing.get(key)
            if before == after:
                continue
            cur.execute(
                "INSERT INTO workspace_costs (workspace_id, month, category, amount_cents, note, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, now()) ON CONFLICT (workspace_id, month, category) DO UPDATE SET"
                " amount_cents = excluded.amount_cents, note = excluded.note,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                [key[0], month, key[1], after[0], after[1], user.email],
            )
            _audit_cost(cur, user, month, key, before, after)
            changes["changed" if before else "added"] += 1
    return changes


def _audit_cost(cur, user, month, key, before, after) -> None:
    def val(v):
        return None if v is None else {"amount_cents": v[0], "note": v[1]}

    audit.record(
        cur,
        actor=user.email,
        action="revenue.cost_line",
        entity="workspace_cost",
        entity_id=f"{key[0]}:{month.isoformat()}:{key[1]}",
        before=val(before),
        after=val(after),
    )
