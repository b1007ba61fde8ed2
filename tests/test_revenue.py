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
        assert r["profit"] == r["revenue"] - r["total_cost"]
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
    assert t["revenue"] == paid - refunds and t["refunds"] == refunds
    assert t["margin"] == round(t["profit"] / t["revenue"], 4)
    flagged = df.filter(pl.col("flags").is_not_null())
    assert all("not fully collected" in f for f in flagged["flags"])  # open invoices of Oct
    sep = revenue.client_month(demo_db, ALL, dt.date(2026, 9, 1), AS_OF)
    assert sep.filter(pl.col("workspace_id") == 8)["flags"][0] == "unbilled leads: 4"
    hist = revenue.history(demo_db, ALL, 18, AS_OF)
    assert hist.height == 18 and hist["revenue"].sum() > 0


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
    assert set(diffs["figure"]) == {"revenue", "collected", "profit"} and set(
        diffs["difference"]
    ) == {-1000}
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
    wid = snap.filter(pl.col("revenue") > 0)["workspace_id"][0]
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
    assert after["margin"] == before["margin"] == round(before["profit"] / before["revenue"], 4)
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
    assert [m.label for m in at.metric][:3] == ["Revenue", "Costs", "Profit"]
    assert at.dataframe[0].value.shape[0] == 12
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
    assert not at.exception and at.dataframe[0].value.shape[0] == 1


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
