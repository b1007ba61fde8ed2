"""Revenue page: every query behind it vs the same aggregates as bare DuckDB SQL.

Dataset: 200 clients over 24 months with daily usage (contacts pulled and verified every day,
emails sent every day, interested replies), a Stripe account with a monthly invoice, charge and
fee per client, subscriptions for the retainer clients, refunds and manual cost lines. It is
built once under data/bench_revenue.duckdb (LEADOPS_BENCH_REVENUE_DB to put it elsewhere).

Run: .venv/bin/python benchmarks/revenue.py
Target: <= 1.5x the floor; each view of the page (it shows one section at a time, and opening it
shows the month with its MRR section) under 0.5 s. The absolute times follow the machine's speed:
the History view is also timed against its own floor (the same 24 months of bare aggregates). Every section's queries together are timed
against their floor too; their absolute time is printed for information, since that floor alone
takes longer than 0.5 s at this scale (it groups every interested reply of 24 months).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from common import AS_OF, ROOT, Report, best_of

from core.platform import store
from core.platform.renewals import add_months
from core.platform.scope import Scope
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import reconcile, stripe_sync

CLIENTS = 200
MONTHS = 24
FIRST = "2024-12-01"  # 24 months up to November 2026


def build(db: store.Database) -> None:
    with db.transaction() as cur:
        cur.execute_script(
            f"""
            INSERT INTO workspaces (id, name, billing_type, price_per_lead_cents, retainer_cents,
                                    monthly_target, created_at)
            SELECT i, 'Client ' || i, CASE WHEN i % 3 = 0 THEN 'retainer' ELSE 'per_lead' END,
                   CASE WHEN i % 3 = 0 THEN 0 ELSE 5000 + (i % 7) * 500 END,
                   CASE WHEN i % 3 = 0 THEN 500000 + (i % 5) * 100000 ELSE 0 END,
                   CASE WHEN i % 2 = 0 THEN 200 ELSE 100 END, TIMESTAMPTZ '{FIRST}'
            FROM range(1, {CLIENTS + 1}) t(i);
            -- daily usage: 12 contacts pulled a day per client (10 verified), one campaign's sends
            INSERT INTO contacts (workspace_id, source, imported_at, verification_result, status)
            SELECT w, CASE WHEN k % 3 = 0 THEN 'import' ELSE 'master_db' END,
                   TIMESTAMPTZ '{FIRST}' + d * INTERVAL 1 DAY + k * INTERVAL 1 HOUR,
                   CASE WHEN k < 10 THEN 'safe' END, 'uploaded'
            FROM range(1, {CLIENTS + 1}) a(w), range(0, 730) b(d), range(0, 12) c(k);
            INSERT INTO bison_campaign_daily (workspace_id, campaign_id, day, sent, replies, interested)
            SELECT w, w, DATE '{FIRST}' + d::INTEGER, 1500 + (w * 7 + d) % 400, 20, 4
            FROM range(1, {CLIENTS + 1}) a(w), range(0, 730) b(d);
            -- interested replies: about 4 a day per client
            INSERT INTO bison_replies (workspace_id, id, lead_id, from_email, interested, date_received)
            SELECT w, w * 10000000 + d * 10 + k, w * 10000000 + d * 10 + k, 'lead' || k || '@x.com', true,
                   TIMESTAMPTZ '{FIRST}' + d * INTERVAL 1 DAY + k * INTERVAL 2 HOUR
            FROM range(1, {CLIENTS + 1}) a(w), range(0, 730) b(d), range(0, 4) c(k);
            INSERT INTO bison_sender_emails (workspace_id, id, email)
            SELECT w, w * 100 + k, 'sender' || k || '@domain' || w || '-' || (k % 3) || '.com'
            FROM range(1, {CLIENTS + 1}) a(w), range(0, 10) b(k);
            -- Stripe: a customer per client, one invoice + charge + fee a month
            INSERT INTO stripe_customers (id, name, workspace_id, metadata, created)
            SELECT 'cus_' || w, 'Client ' || w, w, '{{}}', TIMESTAMPTZ '{FIRST}' FROM range(1, {CLIENTS + 1}) t(w);
            INSERT INTO stripe_invoices (id, customer_id, subscription_id, status, amount_due, amount_paid,
                amount_remaining, period_start, period_end, created, paid_at, service_month)
            SELECT 'in_' || w || '_' || m, 'cus_' || w, CASE WHEN w % 3 = 0 THEN 'sub_' || w END, 'paid',
                   100000 + w * 100, 100000 + w * 100, 0,
                   TIMESTAMPTZ '{FIRST}' + m * INTERVAL 1 MONTH, TIMESTAMPTZ '{FIRST}' + (m + 1) * INTERVAL 1 MONTH,
                   TIMESTAMPTZ '{FIRST}' + (m + 1) * INTERVAL 1 MONTH + INTERVAL 1 DAY,
                   TIMESTAMPTZ '{FIRST}' + (m + 1) * INTERVAL 1 MONTH + INTERVAL 3 DAY,
                   (DATE '{FIRST}' + m * INTERVAL 1 MONTH)::DATE
            FROM range(1, {CLIENTS + 1}) a(w), range(0, {MONTHS - 1}) b(m);
            INSERT INTO stripe_invoice_lines (id, invoice_id, subscription_id, amount, line_type, interval,
                interval_count, period_start, period_end)
            SELECT 'il' || substr(id, 3), id, subscription_id, amount_due,
                   CASE WHEN subscription_id IS NULL THEN 'invoiceitem' ELSE 'subscription' END,
                   CASE WHEN subscription_id IS NULL THEN NULL ELSE 'month' END, 1, period_start, period_end
            FROM stripe_invoices;
            INSERT INTO stripe_subscriptions (id, customer_id, status, created, start_date,
                current_period_start, current_period_end)
            SELECT 'sub_' || w, 'cus_' || w, 'active', TIMESTAMPTZ '{FIRST}', TIMESTAMPTZ '{FIRST}',
                   TIMESTAMPTZ '2026-11-01', TIMESTAMPTZ '2026-12-01'
            FROM range(3, {CLIENTS + 1}, 3) t(w);
            INSERT INTO stripe_subscription_items (id, subscription_id, unit_amount, interval, interval_count, quantity)
            SELECT 'si' || substr(id, 4), id, 100000, 'month', 1, 1 FROM stripe_subscriptions;
            INSERT INTO stripe_charges (id, customer_id, amount, amount_captured, status, created)
            SELECT 'ch' || substr(id, 3), customer_id, amount_paid, amount_paid, 'succeeded', paid_at
            FROM stripe_invoices;
            INSERT INTO stripe_balance_transactions (id, amount, fee, net, type, source_id, created)
            SELECT 'txn' || substr(id, 3), amount, amount * 29 // 1000 + 30, amount - (amount * 29 // 1000 + 30),
                   'charge', id, created FROM stripe_charges;
            INSERT INTO stripe_refunds (id, charge_id, amount, status, created)
            SELECT 're' || substr(id, 3), id, 5000, 'succeeded', created + INTERVAL 5 DAY
            FROM stripe_charges WHERE hash(id) % 10 = 0;
            INSERT INTO workspace_costs (workspace_id, month, category, amount_cents)
            SELECT w, (DATE '{FIRST}' + m * INTERVAL 1 MONTH)::DATE, 'account management', 40000
            FROM range(1, {CLIENTS + 1}) a(w), range(0, {MONTHS}) b(m);
            """
        )


def bench_db() -> store.Database:
    path = Path(os.environ.get("LEADOPS_BENCH_REVENUE_DB", ROOT / "data" / "bench_revenue.duckdb"))
    fresh = not path.exists()
    db = store.Database(path)
    db.migrate()
    if fresh or db.scalar("SELECT count(*) FROM workspaces") == 0:
        t = time.perf_counter()
        build(db)
        print(f"# built the revenue dataset in {time.perf_counter() - t:.1f} s at {path}")
    return db


def first_view(db, scope: Scope):
    """What the Revenue page asks for when opened (running month, how it adds up, its default
    MRR section)."""
    month = revenue.month_start(AS_OF)
    stripe_sync.status(db)
    window = revenue.client_months(db, scope, add_months(month, -1), month, AS_OF)
    tot = revenue.totals(window.filter(window["month"] == month))
    revenue.unmapped_revenue(db, month)
    reconcile.lines(tot, revenue.cash_by_service_month(db, scope, month), month, AS_OF)
    revenue_admin.mrr_movements(db, scope, 13, AS_OF)
    return window


def page_queries(db, scope: Scope) -> None:
    """Every query of the page: the first view and each section (no cache)."""
    window = first_view(db, scope)
    revenue_admin.forecast(db, scope, AS_OF, window)
    revenue.history(db, scope, 24, AS_OF)
    revenue_admin.manual_costs(db, scope, revenue.month_start(AS_OF))
    revenue_admin.snapshot_months(db)
    stripe_sync.unmapped_customers(db)


def section_views(db, scope: Scope) -> dict[str, object]:
    """What each section of the page runs when picked: the month's table and totals (always
    shown above the sections) plus that section's own queries."""
    month = revenue.month_start(AS_OF)

    def month_table():
        stripe_sync.status(db)
        window = revenue.client_months(db, scope, add_months(month, -1), month, AS_OF)
        tot = revenue.totals(window.filter(window["month"] == month))
        revenue.unmapped_revenue(db, month)
        reconcile.lines(tot, revenue.cash_by_service_month(db, scope, month), month, AS_OF)
        return window

    return {
        "forecast": lambda: revenue_admin.forecast(db, scope, AS_OF, month_table()),
        "history": lambda: (month_table(), revenue.history(db, scope, 24, AS_OF)),
        "manual_costs": lambda: (month_table(), revenue_admin.manual_costs(db, scope, month)),
        "snapshots": lambda: (month_table(), revenue_admin.snapshot_months(db)),
        "stripe_customers": lambda: (month_table(), stripe_sync.unmapped_customers(db)),
    }


# The floor: the same aggregates, each one bare GROUP BY over its table, fetched as raw tuples,
# once for the 24 months of history and once for the month and forecast window. The two big
# tables are put in months the fastest way known (a range join on the months' bounds, as the page
# does; date_trunc on a TIMESTAMPTZ costs twice as much).
BOUNDS = (
    "SELECT m::DATE AS month, m::TIMESTAMPTZ AS lo, (m + INTERVAL 1 MONTH)::TIMESTAMPTZ AS hi"
    " FROM unnest(generate_series(DATE '{a}', DATE '{b}' - INTERVAL 1 MONTH, INTERVAL 1 MONTH)) u(m)"
)
WINDOWS = [(FIRST, "2026-12-01"), ("2026-10-01", "2026-12-01")]
FLOOR_SQL = [
    "SELECT workspace_id, m.month, count(*) FROM interested_leads JOIN ({bounds}) m"
    " ON interested_at >= m.lo AND interested_at < m.hi"
    " WHERE interested_at >= DATE '{a}' AND interested_at < DATE '{b}' GROUP BY ALL",
    # invoices with their lines' interval, by service month and by the month they were paid
    "SELECT i.customer_id, i.service_month, i.status, max(l.interval), sum(i.amount_due),"
    " sum(i.amount_paid) FROM stripe_invoices i LEFT JOIN stripe_invoice_lines l"
    " ON l.invoice_id = i.id WHERE i.service_month >= DATE '{a}' AND i.service_month < DATE '{b}'"
    " GROUP BY ALL",
    "SELECT i.customer_id, date_trunc('month', i.paid_at), i.service_month, max(l.interval),"
    " sum(i.amount_paid) FROM stripe_invoices i LEFT JOIN stripe_invoice_lines l"
    " ON l.invoice_id = i.id WHERE i.paid_at >= DATE '{a}' AND i.paid_at < DATE '{b}' GROUP BY ALL",
    "SELECT charge_id, date_trunc('month', created), sum(amount) FROM stripe_refunds"
    " WHERE created >= DATE '{a}' AND created < DATE '{b}' GROUP BY ALL",
    "SELECT source_id, date_trunc('month', created), sum(fee) FROM stripe_balance_transactions"
    " WHERE created >= DATE '{a}' AND created < DATE '{b}' GROUP BY ALL",
    "SELECT workspace_id, m.month, source, count(*), count(verification_result)"
    " FROM contacts JOIN ({bounds}) m ON imported_at >= m.lo AND imported_at < m.hi"
    " WHERE imported_at >= DATE '{a}' AND imported_at < DATE '{b}' GROUP BY ALL",
    "SELECT workspace_id, date_trunc('month', day), sum(sent) FROM bison_campaign_daily"
    " WHERE day >= DATE '{a}' AND day < DATE '{b}' GROUP BY ALL",
    "SELECT workspace_id, month, sum(amount_cents) FROM workspace_costs"
    " WHERE month >= DATE '{a}' AND month < DATE '{b}' GROUP BY ALL",
]
FLOOR_ONCE = [
    # the running month's cash by the month it pays for, and Stripe's sync state
    "SELECT i.customer_id, i.service_month, max(l.interval), sum(i.amount_paid)"
    " FROM stripe_invoices i LEFT JOIN stripe_invoice_lines l ON l.invoice_id = i.id"
    " WHERE i.paid_at >= DATE '2026-11-01' AND i.paid_at < DATE '2026-12-01' GROUP BY ALL",
    "SELECT max(finished_at), count(*) FILTER (WHERE triggered_by = 'demo') FROM sync_runs"
    " WHERE source = 'stripe' AND status = 'succeeded'",
    "SELECT * FROM stripe_invoice_lines WHERE line_type = 'subscription'",
    "SELECT * FROM stripe_subscriptions",
    "SELECT * FROM stripe_subscription_items",
    "SELECT count(*), count(DISTINCT split_part(email, '@', 2)) FROM bison_sender_emails",
    "SELECT * FROM workspaces",
    "SELECT * FROM stripe_customers",
]


def floor(db, windows=WINDOWS) -> None:
    with db.cursor() as cur:
        for a, b in windows:
            for sql in FLOOR_SQL:
                cur.execute(sql.format(a=a, b=b, bounds=BOUNDS.format(a=a, b=b))).fetchall()
        for sql in FLOOR_ONCE:
            cur.execute(sql).fetchall()


def paired(floor_fn, page_fn, repeat: int = 7) -> tuple[float, float]:
    """Median times of the floor and the page, run alternately so that load from other
    processes on the machine falls on both alike."""
    floor_fn(), page_fn()
    fs, ps = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        floor_fn()
        fs.append(time.perf_counter() - t)
        t = time.perf_counter()
        page_fn()
        ps.append(time.perf_counter() - t)
    return statistics.median(fs), statistics.median(ps)


def main() -> int:
    db = bench_db()
    print(
        f"# dataset: {db.scalar('SELECT count(*) FROM workspaces')} clients, "
        f"{db.scalar('SELECT count(*) FROM contacts'):,} contacts, "
        f"{db.scalar('SELECT count(*) FROM bison_campaign_daily'):,} daily rows, "
        f"{db.scalar('SELECT count(*) FROM bison_replies'):,} interested replies, "
        f"{db.scalar('SELECT count(*) FROM stripe_invoices'):,} invoices"
    )
    report = Report()
    f, t_all = paired(lambda: floor(db), lambda: page_queries(db, Scope.all()))
    f_first, t_first = paired(lambda: floor(db, WINDOWS[1:]), lambda: first_view(db, Scope.all()))
    t_one = best_of(lambda: page_queries(db, Scope.only([3])), repeat=5)
    report.ratio("revenue.all_sections", t_all, f, 1.5)
    report.ratio("revenue.first_view", t_first, f_first, 1.5)
    report.absolute("revenue.first_view", t_first, 0.5)
    views = section_views(db, Scope.all())
    # the heaviest view against its own floor: 24 months of aggregates plus the month's
    f_hist, t_hist = paired(lambda: floor(db), views["history"], repeat=5)
    report.ratio("revenue.view.history", t_hist, f_hist, 1.5)
    for name, fn in views.items():
        report.absolute(f"revenue.view.{name}", best_of(fn, repeat=5), 0.5)
    hist_only = best_of(lambda: revenue.history(db, Scope.all(), 24, AS_OF), repeat=5)
    report.info(
        "revenue.history (the section alone, the month table cached as on the page)", hist_only
    )
    report.info("revenue.all_sections (every section's queries at once)", t_all)
    report.absolute("revenue.one_client_all_sections", t_one, 0.5)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
