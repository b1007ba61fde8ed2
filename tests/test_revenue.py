"""Revenue on the demo data: one interested count with the Overview, costs from usage and prices,
totals, forecast, snapshots with differences, manual cost lines, and the page."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core import overview
from core.accounts.access import LOCAL_ADMIN, PermissionDenied, User
from core.platform import settings
from core.platform.scope import Scope
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import reconcile, stripe_sync
from tests.conftest import AS_OF

MONTH = dt.date(2026, 10, 1)
ALL = Scope.all()


def test_per_lead_billing_uses_the_overview_interested_count(demo_db):
    now = revenue.client_month(demo_db, ALL, AS_OF, AS_OF)
    board = overview.client_board(demo_db, ALL, AS_OF)
    a = dict(zip(now["workspace_id"], now["interested"], strict=True))
    b = dict(zip(board["workspace_id"], board["interested_mtd"], strict=True))
    assert a == b and sum(a.values()) > 0
    prices = dict(demo_db.rows("SELECT id, price_per_lead_cents FROM workspaces"))
    for r in now.filter(pl.col("billing_type") == "per_lead").iter_rows(named=True):
        assert r["billed_by_model"] == r["interested"] * prices[r["workspace_id"]]


def test_costs_follow_usage_and_prices_to_the_cent(demo_db):
    df = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    pulled = dict(
        demo_db.rows(
            "SELECT workspace_id, count(*) FROM contacts WHERE imported_at >= ? AND imported_at < ? GROUP BY ALL",
            [MONTH, dt.date(2026, 11, 1)],
        )
    )
    for r in df.iter_rows(named=True):
        assert r["data_cost"] == (pulled.get(r["workspace_id"], 0) * 1000 + 500) // 1000
        assert r["total_cost"] == sum(r[c] for c in revenue.COST_COLUMNS)
        assert r["profit"] == r["billed_by_model"] - r["total_cost"]
    # the sending pool (mailboxes and domains) is shared out whole, give or take rounding
    pool = demo_db.scalar(
        "SELECT count(*) * 450 + count(DISTINCT lower(split_part(email, '@', 2))) * 125 FROM bison_sender_emails"
    )
    assert abs(int(df["sending_cost"].sum()) - pool) <= df.height
    # Stripe fees are the balance-transaction fees of the clients' charges
    fees = demo_db.scalar(
        """SELECT sum(b.fee) FROM stripe_balance_transactions b JOIN stripe_charges c ON c.id = b.source_id
           JOIN stripe_customer_workspace m ON m.customer_id = c.customer_id
           WHERE m.workspace_id IS NOT NULL AND b.created >= ? AND b.created < ?""",
        [MONTH, dt.date(2026, 11, 1)],
    )
    assert int(df["stripe_fees"].sum()) == fees > 0
    # a price per source changes only that source's contacts
    before = int(df["data_cost"].sum())
    settings.set_value(demo_db, "data_cost_by_source", "master_db=2000", actor="test")
    after = int(revenue.client_month(demo_db, ALL, MONTH, AS_OF)["data_cost"].sum())
    assert after > before
    with pytest.raises(settings.SettingError, match="entry 1"):
        settings.set_value(demo_db, "data_cost_by_source", "master_db", actor="test")


def test_revenue_is_paid_invoices_less_refunds_and_flags_explain_gaps(demo_db):
    df = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    paid = demo_db.scalar(
        """SELECT sum(amount_paid) FROM stripe_invoices i JOIN stripe_customer_workspace m USING (customer_id)
           WHERE m.workspace_id IS NOT NULL AND status = 'paid' AND paid_at >= ? AND paid_at < ?""",
        [MONTH, dt.date(2026, 11, 1)],
    )
    refunds = demo_db.scalar(
        "SELECT coalesce(sum(amount), 0) FROM stripe_refunds WHERE created >= ? AND created < ?",
        [MONTH, dt.date(2026, 11, 1)],
    )
    t = revenue.totals(df)
    assert t["net_cash"] == paid - refunds and t["refunds"] == refunds
    assert t["cash_received"] == paid
    assert t["margin"] == round(t["profit"] / t["billed_by_model"], 4)
    flagged = df.filter(pl.col("flags").is_not_null())
    assert all("not fully collected" in f for f in flagged["flags"])  # open invoices of Oct
    sep = revenue.client_month(demo_db, ALL, dt.date(2026, 9, 1), AS_OF)
    assert sep.filter(pl.col("workspace_id") == 8)["flags"][0] == "unbilled leads: 4"
    hist = revenue.history(demo_db, ALL, 18, AS_OF)
    assert hist.height == 18 and hist["billed_by_model"].sum() > 0


def test_mrr_movements_and_forecast_on_the_demo(demo_db):
    mv = revenue_admin.mrr_movements(demo_db, ALL, 18, AS_OF)
    assert (
        mv["starting_mrr"]
        + mv["new"]
        + mv["expansion"]
        + mv["contraction"]
        + mv["churn"]
        + mv["reactivation"]
        == mv["mrr"]
    ).all()
    totals = {m: int(mv[m].sum()) for m in revenue_admin.mrr.MOVEMENTS}
    assert totals["new"] > 0 and totals["churn"] < 0 and totals["expansion"] > 0
    assert totals["contraction"] < 0 and totals["reactivation"] > 0
    fc = revenue_admin.forecast(demo_db, ALL, AS_OF)
    assert fc["low"] <= fc["forecast"] <= fc["high"]
    assert (
        fc["forecast"] == fc["booked_recurring"] + fc["usage_so_far"] + fc["expected_rest_of_month"]
    )
    assert fc["per_client"].height == 12
    # one client only: its scope, nothing of the others
    one = revenue_admin.forecast(demo_db, Scope.only([3]), AS_OF)
    assert one["per_client"]["workspace_id"].to_list() == [3]


def test_snapshot_keeps_the_month_and_shows_later_differences(demo_db):
    with pytest.raises(PermissionDenied):
        revenue_admin.save_snapshot(demo_db, User("v@x.com", "viewer"), MONTH, AS_OF)
    assert revenue_admin.save_snapshot(demo_db, LOCAL_ADMIN, MONTH, AS_OF) == 12
    snap = revenue_admin.snapshot(demo_db, ALL, MONTH)
    live = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    assert revenue_admin.snapshot_differences(snap, live).height == 0
    demo_db.execute(
        "UPDATE stripe_invoices SET amount_paid = amount_paid - 1000 WHERE id = "
        "(SELECT min(id) FROM stripe_invoices WHERE status = 'paid' AND paid_at >= ? AND paid_at < ? AND customer_id = 'cus_demo3')",
        [MONTH, dt.date(2026, 11, 1)],
    )
    live = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    diffs = revenue_admin.snapshot_differences(snap, live)
    # paid short: less collected and cash, the shortfall written off; the billing and profit stay
    assert set(diffs["figure"]) == {
        "collected",
        "written_off",
        "cash_received",
        "cash_for_month",
        "net_cash",
    }
    assert dict(zip(diffs["figure"], diffs["difference"], strict=True))["written_off"] == 1000
    assert set(diffs.filter(pl.col("figure") != "written_off")["difference"]) == {-1000}
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'revenue.snapshot'") == 1


def test_a_snapshot_derives_its_figures_as_the_live_table_does(demo_db):
    """KPI progress, margin and cost and revenue per interested lead come from one definition:
    on a fresh snapshot they equal the live month's, client by client, and after live data moves
    the snapshot's follow its own saved numbers."""
    revenue_admin.save_snapshot(demo_db, LOCAL_ADMIN, MONTH, AS_OF)
    figures = ["workspace_id", "target", *revenue.DERIVED_SQL]
    snap = revenue_admin.snapshot(demo_db, ALL, MONTH)
    live = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    assert (
        snap.select(figures).sort("workspace_id").equals(live.select(figures).sort("workspace_id"))
    )
    assert snap["margin"].drop_nulls().len() > 0 and snap["cost_per_interested"].drop_nulls().len()
    assert snap["flags"].null_count() == snap.height
    # the page's month table and totals read either frame alike
    assert revenue.totals(snap)["margin"] == revenue.totals(live)["margin"]
    wid = snap.filter(pl.col("billed_by_model") > 0)["workspace_id"][0]
    demo_db.execute("UPDATE workspace_costs SET amount_cents = 0")  # live moves; snapshot does not
    demo_db.execute(
        "INSERT INTO workspace_costs (workspace_id, month, category, amount_cents, updated_by)"
        " VALUES (?, ?, 'extra', 500000, 'test')",
        [wid, MONTH],
    )
    after = revenue_admin.snapshot(demo_db, ALL, MONTH).row(
        by_predicate=pl.col("workspace_id") == wid, named=True
    )
    before = snap.row(by_predicate=pl.col("workspace_id") == wid, named=True)
    assert (
        after["margin"]
        == before["margin"]
        == round(before["profit"] / before["billed_by_model"], 4)
    )
    assert (
        revenue.client_month(demo_db, ALL, MONTH, AS_OF).row(
            by_predicate=pl.col("workspace_id") == wid, named=True
        )["margin"]
        != before["margin"]
    )
    # one month of a two-month read is the month's own table
    window = revenue.client_months(demo_db, ALL, dt.date(2026, 9, 1), MONTH, AS_OF)
    assert revenue.of_month(window, MONTH).equals(revenue.client_month(demo_db, ALL, MONTH, AS_OF))


def test_every_money_column_shown_is_in_cents_columns(demo_db):
    """`to_dollars` turns exactly the money columns of each Revenue frame into dollars."""
    money = set(revenue_admin.CENTS_COLUMNS)
    table = revenue.client_month(demo_db, ALL, MONTH, AS_OF)
    assert set(revenue.MONEY_COLUMNS + revenue.PER_LEAD_COLUMNS) <= money
    hist = revenue.history(demo_db, ALL, 3, AS_OF)
    fc = revenue_admin.forecast(demo_db, ALL, AS_OF)["per_client"]
    mv = revenue_admin.mrr_movements(demo_db, ALL, 3, AS_OF)
    for frame in (table, hist, fc, mv):
        shown = revenue_admin.to_dollars(frame)
        for c in frame.columns:
            if c in money:
                assert (shown[c] * 100).round(0).cast(pl.Int64).equals(frame[c].cast(pl.Int64)), c
            else:
                assert shown[c].equals(frame[c]), c
    assert set(fc.columns) - {"workspace_id", "client", "billing_type"} <= money
    assert {"starting_mrr", "mrr", *revenue_admin.mrr.MOVEMENTS} <= money


def test_manual_cost_lines_validate_every_row_and_audit_every_change(demo_db):
    user = LOCAL_ADMIN
    name = demo_db.scalar("SELECT name FROM workspaces WHERE id = 1")
    before = revenue_admin.manual_costs(demo_db, ALL, MONTH)
    rows = [
        {
            "client": r["client"],
            "category": r["category"],
            "amount": r["amount_cents"] / 100,
            "note": r["note"],
        }
        for r in before.iter_rows(named=True)
    ]
    bad = rows + [{"client": name, "category": "software", "amount": "12.345"}]
    with pytest.raises(revenue_admin.RevenueError, match=f"Row {len(bad)}, amount"):
        revenue_admin.save_manual_costs(demo_db, user, MONTH, bad)
    with pytest.raises(revenue_admin.RevenueError, match="Row 1, client: no client named"):
        revenue_admin.save_manual_costs(
            demo_db, user, MONTH, [{"client": "Nobody", "category": "x", "amount": 1}]
        )
    assert revenue_admin.manual_costs(demo_db, ALL, MONTH).equals(before)  # nothing saved
    good = rows[1:] + [
        {"client": name, "category": "software", "amount": "$1,234.56", "note": "CRM seats"}
    ]
    changes = revenue_admin.save_manual_costs(demo_db, user, MONTH, good)
    assert changes == {"added": 1, "changed": 0, "removed": 1}
    after = revenue_admin.manual_costs(demo_db, ALL, MONTH)
    assert after.filter(pl.col("category") == "software")["amount_cents"].to_list() == [123456]
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'revenue.cost_line'") == 2
    with pytest.raises(PermissionDenied):
        revenue_admin.save_manual_costs(demo_db, User("o@x.com", "operator"), MONTH, good)


def _prev_month() -> dt.date:
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def test_revenue_page_snapshot_round_trip_and_sections(demo_db):
    from core.accounts.access import User
    from tests.test_pages import run_page

    assert not User("c@x.com", "client", 1).can_see("revenue")
    assert User("v@x.com", "viewer").can_see("revenue") and not User("v@x.com", "viewer").can(
        "revenue.manage"
    )
    at = run_page("pages/revenue.py")
    assert at.title[0].value == "Revenue"
    now = f"{dt.date.today():%b %Y}"
    assert [m.label for m in at.metric][:4] == [
        f"Billed for {now} to date",
        f"Costs of {now} to date",
        f"Profit on {now}'s billing",
        f"Margin, {now}",
    ]
    assert _per_client(at).shape[0] == 12
    month = _prev_month()
    at.selectbox(key="revenue-month").set_value(month).run()
    at.session_state["revenue-section"] = "Snapshots"
    at.run()
    [b for b in at.button if b.label.startswith("Save snapshot of")][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert demo_db.scalar("SELECT count(*) FROM revenue_snapshots WHERE month = ?", [month]) == 12
    assert any("figures are from the snapshot" in i.value for i in at.info)
    for section in ["Forecast", "History", "Manual costs", "Stripe customers", "MRR"]:
        at.session_state["revenue-section"] = section
        at.run()
        assert not at.exception, (section, [e.value for e in at.exception])
    # one client picked in the sidebar narrows the table
    at.selectbox(key="workspace_id").set_value(3).run()
    assert not at.exception and _per_client(at).shape[0] == 1


def _per_client(at):
    return next(d.value for d in at.dataframe if "model" in d.value.columns)


def test_settings_maps_a_stripe_customer_to_a_client(demo_db):
    from tests.test_pages import run_page

    at = run_page("pages/settings.py")
    pick = [s for s in at.selectbox if s.label == "Stripe customer"][0]
    assert pick.value == "cus_demo_former"  # unmapped customers come first
    [s for s in at.selectbox if "— use the metadata —" in s.options][0].set_value(4)
    at.button(key="FormSubmitter:stripe-map-Save mapping").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert demo_db.rows(
        "SELECT workspace_id FROM stripe_customer_map WHERE customer_id = 'cus_demo_former'"
    ) == [(4,)]
    assert (
        demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'stripe.map_customer'") == 1
    )


@pytest.mark.parametrize("tz", ["UTC", "America/Chicago"])
def test_contacts_and_leads_fall_in_the_month_of_their_instant(empty_db, tz):
    """Months are taken by a range join on the months' bounds: the last microsecond of October
    is October and midnight of November 1 is November, in the session's time zone."""
    db = empty_db
    with db.transaction() as cur:
        cur.execute(f"SET GLOBAL TimeZone = '{tz}'")
        cur.execute(
            "INSERT INTO workspaces (id, name, created_at) VALUES (1, 'Acme', TIMESTAMPTZ '2026-01-01')"
        )
        stamps = ["2026-10-01 00:00:00", "2026-10-31 23:59:59.999999", "2026-11-01 00:00:00"]
        for i, ts in enumerate(stamps):
            cur.execute(
                "INSERT INTO contacts (workspace_id, email, imported_at, source)"
                " VALUES (1, ?, ?::TIMESTAMP::TIMESTAMPTZ, 'file')",
                [f"c{i}@example.com", ts],
            )
            cur.execute(
                "INSERT INTO bison_replies (workspace_id, id, from_email, interested,"
                " date_received) VALUES (1, ?, ?, true, ?::TIMESTAMP::TIMESTAMPTZ)",
                [i + 1, f"c{i}@example.com", ts],
            )
        cur.execute(
            "INSERT INTO contacts (workspace_id, email, imported_at, source) VALUES"
            " (1, 'early@example.com', '2026-09-30 23:59:59'::TIMESTAMP::TIMESTAMPTZ, 'file')"
        )
    got = revenue.client_months(db, ALL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), AS_OF)
    with db.cursor() as cur:
        assert cur.sql("SELECT current_setting('TimeZone')").fetchall() == [(tz,)]
        expected = cur.sql(
            "SELECT date_trunc('month', imported_at)::DATE AS m, count(*) FROM contacts"
            " WHERE imported_at >= DATE '2026-10-01' GROUP BY ALL ORDER BY m"
        ).fetchall()
    assert expected == [(dt.date(2026, 10, 1), 2), (dt.date(2026, 11, 1), 1)]
    assert got.select("month", "contacts_pulled", "interested").rows() == [
        (dt.date(2026, 10, 1), 2, 2),
        (dt.date(2026, 11, 1), 1, 1),
    ]


# -- how a month adds up ----------------------------------------------------------------------

NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def test_every_client_month_of_the_demo_adds_up_and_cash_matches_raw_stripe(demo_db):
    """On 18 months of the demo, for every client and month: billed = invoiced + not yet invoiced
    + difference, invoiced = collected + outstanding + written off, cash received = for the
    month + for earlier months + in advance; cash received equals the invoices paid in the month
    read straight from the Stripe tables, and the earlier-month cash is listed month by month."""
    window = revenue.client_months(demo_db, ALL, dt.date(2025, 6, 1), AS_OF, AS_OF)
    assert window.height > 100
    for r in window.iter_rows(named=True):
        assert reconcile.broken(r) == [], (r["client"], r["month"])
    raw = {
        (w, m): int(c)
        for w, m, c in demo_db.rows(
            """SELECT m.workspace_id, date_trunc('month', i.paid_at)::DATE, sum(i.amount_paid)
               FROM stripe_invoices i JOIN stripe_customer_workspace m USING (customer_id)
               WHERE m.workspace_id IS NOT NULL AND i.paid_at IS NOT NULL GROUP BY ALL"""
        )
    }
    for r in window.iter_rows(named=True):
        assert r["cash_received"] == raw.get((r["workspace_id"], r["month"]), 0)
        assert r["profit"] == r["billed_by_model"] - r["total_cost"]
    # monthly invoices (every one but client 12's yearly plan) count in their service month
    by_service = dict(
        (((w, m), int(v)))
        for w, m, v in demo_db.rows(
            """SELECT m.workspace_id, i.service_month, sum(i.amount_due) FROM stripe_invoices i
               JOIN stripe_customer_workspace m USING (customer_id)
               WHERE m.workspace_id IS NOT NULL AND m.workspace_id <> 12
                 AND i.status IN ('open', 'paid', 'uncollectible') GROUP BY ALL"""
        )
    )
    for r in window.filter(pl.col("workspace_id") != 12).iter_rows(named=True):
        assert r["invoiced"] == by_service.get((r["workspace_id"], r["month"]), 0)
    # the yearly plan: a twelfth of it each month, paid in advance in the month it was paid
    yearly = window.filter(pl.col("workspace_id") == 12)
    assert set(yearly.filter(pl.col("month") >= dt.date(2026, 4, 1))["invoiced"]) == {
        800_000 * 12 * 9 // 10 // 12
    }
    assert yearly["cash_in_advance"].sum() == 800_000 * 12 * 9 // 10 * 11 // 12
    # November (the running month of the demo): October's per-lead bills came in as cash
    month = revenue.client_month(demo_db, ALL, NOV, AS_OF)
    tot = revenue.totals(month)
    assert reconcile.broken(tot) == []
    assert tot["cash_for_earlier"] > 0 and tot["not_yet_invoiced"] > 0
    cash = revenue.cash_by_service_month(demo_db, ALL, NOV)
    assert int(cash["cash"].sum()) == tot["cash_received"]
    lines = reconcile.lines(tot, cash, NOV, AS_OF)
    assert "+ for October 2026" in lines["figure"].to_list()
    _assert_lines_add_up(lines)


def _assert_lines_add_up(lines: pl.DataFrame) -> None:
    """Each total of `reconcile.lines` (but refunds and net cash) equals the parts under it."""
    total, parts = None, 0
    for r in lines.iter_rows(named=True):
        if not r["part"]:
            if total is not None and parts:
                assert parts == total, (r, parts, total)
            total, parts = r["amount"], 0
        else:
            parts += r["amount"]


def _one_client(db, billing_type="per_lead", price=50_00, retainer=0):
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO workspaces (id, name, billing_type, price_per_lead_cents, retainer_cents,"
            " monthly_target, created_at) VALUES (1, 'Acme', ?, ?, ?, 10, TIMESTAMPTZ '2026-06-01')",
            [billing_type, price, retainer],
        )
        cur.execute(
            "INSERT INTO stripe_customers (id, name, workspace_id, metadata, created)"
            " VALUES ('cus_1', 'Acme', 1, '{}', TIMESTAMPTZ '2026-06-01')"
        )


def _leads(db, day: str, n: int, start: int = 1) -> None:
    with db.transaction() as cur:
        for i in range(start, start + n):
            cur.execute(
                "INSERT INTO bison_replies (workspace_id, id, from_email, interested, date_received)"
                " VALUES (1, ?, ?, true, ?::TIMESTAMPTZ)",
                [i, f"lead{i}@example.com", f"{day} 12:00:00+00"],
            )


def _invoice(db, iid, due, period, created, paid_at=None, status="paid", interval=None, paid=None):
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO stripe_invoices (id, customer_id, status, amount_due, amount_paid,"
            " amount_remaining, period_start, period_end, created, paid_at, service_month)"
            " VALUES (?, 'cus_1', ?, ?, ?, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ,"
            " ?::TIMESTAMPTZ, date_trunc('month', ?::DATE))",
            [
                iid,
                status,
                due,
                due if paid is None and status == "paid" else (paid or 0),
                0 if status == "paid" else due,
                period[0],
                period[1],
                created,
                paid_at,
                period[0],
            ],
        )
        cur.execute(
            "INSERT INTO stripe_invoice_lines (id, invoice_id, amount, line_type, interval,"
            " interval_count, proration, period_start, period_end)"
            " VALUES (?, ?, ?, ?, ?, 1, false, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ)",
            [
                "il_" + iid,
                iid,
                due,
                "subscription" if interval else "invoiceitem",
                interval,
                period[0],
                period[1],
            ],
        )


def test_an_invoice_for_november_paid_in_december_is_cash_for_november_not_december_billing(
    empty_db,
):
    db = empty_db
    _one_client(db)
    _leads(db, "2026-11-10", 4)
    _leads(db, "2026-12-03", 2, start=100)
    _invoice(db, "in_nov", 4 * 50_00, ("2026-11-01", "2026-12-01"), "2026-12-02", "2026-12-05")
    db.execute(
        "INSERT INTO workspace_costs (workspace_id, month, category, amount_cents) VALUES"
        " (1, DATE '2026-11-01', 'am', 30_00), (1, DATE '2026-12-01', 'am', 40_00)"
    )
    as_of = dt.date(2026, 12, 7)
    both = revenue.client_months(db, ALL, NOV, DEC, as_of)
    nov = revenue.of_month(both, NOV).row(0, named=True)
    dec = revenue.of_month(both, DEC).row(0, named=True)
    # November: its work billed, invoiced and collected for it; no cash came in during November
    assert (nov["billed_by_model"], nov["invoiced"], nov["collected"]) == (200_00, 200_00, 200_00)
    assert nov["cash_received"] == 0 and nov["not_yet_invoiced"] == 0
    assert nov["profit"] == 200_00 - 30_00 and nov["margin"] == round(170 / 200, 4)
    # December: the cash is November's; December's billing is its own 2 leads, not yet invoiced
    assert dec["cash_received"] == dec["cash_for_earlier"] == 200_00
    assert dec["cash_for_month"] == 0 and dec["invoiced"] == 0
    assert dec["billed_by_model"] == dec["not_yet_invoiced"] == 2 * 50_00
    assert dec["profit"] == 100_00 - 40_00 and dec["margin"] == 0.6
    for r in (nov, dec):
        assert reconcile.broken(r) == []
    cash = revenue.cash_by_service_month(db, ALL, DEC)
    assert cash.select("for_month", "cash").rows() == [(NOV, 200_00)]
    lines = reconcile.lines(revenue.totals(revenue.of_month(both, DEC)), cash, DEC, as_of)
    figures = dict(zip(lines["figure"], lines["amount"], strict=True))
    assert figures["+ for November 2026"] == 200_00
    assert figures["= for December 2026"] == 0
    assert figures["Billed for December 2026 (by each client's billing model)"] == 100_00
    _assert_lines_add_up(lines)
    assert reconcile.window(DEC, as_of) == "Dec 1–7, 2026 (month to date)"
    assert reconcile.window(NOV, as_of) == "Nov 1–30, 2026"


def test_open_uncollectible_short_paid_discounted_and_yearly_invoices_add_up(empty_db):
    db = empty_db
    _one_client(db, "retainer", price=0, retainer=1000_00)
    # Sep: paid short (written off 100); Oct: uncollectible; Nov: a 20% coupon, still open;
    # Dec: a yearly plan paid in advance on Dec 1 (a twelfth is December's)
    _invoice(
        db, "in_sep", 1000_00, ("2026-09-01", "2026-10-01"), "2026-09-01", "2026-09-02", paid=900_00
    )
    _invoice(
        db,
        "in_oct",
        1000_00,
        ("2026-10-01", "2026-11-01"),
        "2026-10-01",
        status="uncollectible",
        interval="month",
    )
    _invoice(
        db,
        "in_nov",
        800_00,
        ("2026-11-01", "2026-12-01"),
        "2026-11-01",
        status="open",
        interval="month",
    )
    _invoice(
        db,
        "in_year",
        10800_00 + 7,
        ("2026-12-01", "2027-12-01"),
        "2026-12-01",
        "2026-12-01 10:00:00",
        interval="year",
    )
    got = revenue.client_months(db, ALL, dt.date(2026, 9, 1), DEC, dt.date(2026, 12, 7))
    rows = {r["month"]: r for r in got.iter_rows(named=True)}
    sep, octo, nov, dec = (rows[dt.date(2026, m, 1)] for m in (9, 10, 11, 12))
    assert (sep["collected"], sep["written_off"], sep["cash_received"]) == (900_00, 100_00, 900_00)
    assert (octo["invoiced"], octo["collected"], octo["written_off"]) == (1000_00, 0, 1000_00)
    assert (nov["invoiced"], nov["outstanding"], nov["invoice_difference"]) == (
        800_00,
        800_00,
        200_00,
    )
    # the yearly invoice: 900 a month (the odd 7 cents on the first), 11 months paid ahead
    assert dec["invoiced"] == dec["cash_for_month"] == 900_07
    assert dec["cash_in_advance"] == 11 * 900_00 and dec["cash_received"] == 10800_07
    assert dec["invoice_difference"] == 1000_00 - 900_07 and dec["not_yet_invoiced"] == 0
    for r in rows.values():
        assert reconcile.broken(r) == [], r["month"]
    assert reconcile.model_label("per_lead") == "Per lead"
    assert reconcile.model_label("retainer") == "Retainer"


def test_stripe_shows_as_synced_only_after_a_real_sync_with_a_key(demo_db, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    # the demo stores a sample history of Stripe syncs: that is no sync, and there is no key
    assert demo_db.scalar("SELECT count(*) FROM sync_runs WHERE source = 'stripe'") > 0
    assert stripe_sync.status(demo_db) == {"configured": False, "last_sync": None, "sample": True}
    assert stripe_sync.last_success(demo_db) is None
    from tests.test_pages import run_page

    at = run_page("pages/revenue.py")
    text = " ".join(str(c.value) for c in [*at.caption, *at.warning, *at.markdown])
    assert "last synced" not in text and "Stripe is not connected" in text
    assert "the demo's sample data" in text
    sync = [b for b in at.button if b.label == "Sync Stripe now"][0]
    assert sync.disabled
    # the figures speak in words and name their period
    table = _per_client(at)
    assert set(table["model"]) == {"Per lead", "Retainer"}
    labels = [m.label for m in at.metric]
    assert "Interested vs full-month target" in labels
    assert any(label.startswith("Cash received in ") for label in labels)
    recon = next(d.value for d in at.dataframe if "figure" in d.value.columns)
    assert recon["figure"].str.contains("Cash received in").any()
    # a key, then a real sync that succeeded: synced
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_status_only")
    demo_db.execute(
        "INSERT INTO sync_runs (source, started_at, finished_at, status, triggered_by)"
        " VALUES ('stripe', now() - INTERVAL 1 MINUTE, now(), 'succeeded', 'ops@x.com')"
    )
    status = stripe_sync.status(demo_db)
    assert status["configured"] and status["last_sync"] is not None and not status["sample"]


def test_snapshots_saved_before_like_periods_get_profit_on_billing(tmp_path, monkeypatch):
    """A snapshot saved when profit was cash less costs: the migration makes its profit the
    month's billing less its costs, names its cash column, and leaves the figures it never kept
    empty, which the differences list then skips."""
    from core.platform import store

    db = store.Database(tmp_path / "old.duckdb")
    monkeypatch.setattr(
        store,
        "list_migrations",
        lambda full=store.list_migrations: [(v, p) for v, p in full() if v < 12],
    )
    db.migrate()
    monkeypatch.undo()
    db.execute(
        "INSERT INTO revenue_snapshots (month, workspace_id, client, billing_type, interested,"
        " billed_by_model, invoiced, collected, revenue, refunds, data_cost, verification_cost,"
        " sending_cost, stripe_fees, manual_cost, total_cost, profit, saved_by) VALUES"
        " (DATE '2026-10-01', 1, 'Acme', 'per_lead', 10, 500_00, 500_00, 500_00, 900_00, 0,"
        " 10_00, 0, 40_00, 0, 0, 50_00, 850_00, 'ops@x.com')"
    )
    assert "0012_revenue_like_periods" in db.migrate()
    row = db.query("SELECT * FROM revenue_snapshots").row(0, named=True)
    assert row["profit"] == 500_00 - 50_00 and row["net_cash"] == 900_00
    assert row["cash_received"] is None and "revenue" not in row
    snap = revenue_admin.snapshot(db, ALL, MONTH)
    assert snap["margin"][0] == round(450 / 500, 4)
    live = snap.with_columns(pl.col("cash_received").fill_null(123))
    assert revenue_admin.snapshot_differences(snap, live).height == 0
    db.close()
