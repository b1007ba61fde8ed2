"""Stripe sync against localstripe: objects made through the official SDK, synced, and every
total checked against what the fake server holds, to the cent; re-syncs add no duplicates."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from connectors.stripe import StripeConnector, parse_invoice, parse_price, parse_subscription
from core.accounts.access import LOCAL_ADMIN, PermissionDenied, User
from core.platform.scope import Scope
from core.revenue import admin as revenue_admin
from core.revenue import months as revenue
from core.revenue import reconcile, stripe_sync

TABLE_OF = {
    "customers": "stripe_customers",
    "subscriptions": "stripe_subscriptions",
    "invoices": "stripe_invoices",
    "charges": "stripe_charges",
    "refunds": "stripe_refunds",
    "balance_transactions": "stripe_balance_transactions",
}


def _card(sdk) -> str:
    pm = sdk.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return pm.id


def _customer(sdk, name: str, metadata: dict | None = None) -> str:
    pm = _card(sdk)
    return sdk.v1.customers.create(
        params={
            "name": name,
            "email": f"billing@{name.split()[0].lower()}.example",
            "metadata": metadata or {},
            "payment_method": pm,
            "invoice_settings": {"default_payment_method": pm},
        }
    ).id


def _per_lead_invoice(sdk, customer: str, leads: int, plan: str) -> str:
    """A month of leads billed as a quantity of a per-lead plan (localstripe only invoices
    through subscriptions; it has no stand-alone invoices)."""
    sub = sdk.v1.subscriptions.create(
        params={"customer": customer, "items": [{"plan": plan, "quantity": leads}]}
    )
    return sub.latest_invoice


@pytest.fixture
def account(empty_db, sdk):
    """Three clients; Stripe customers for two of them (by name and by id) and one unmapped."""
    empty_db.execute(
        "INSERT INTO workspaces (id, name, billing_type, price_per_lead_cents, retainer_cents) VALUES"
        " (1, 'Acme Agency', 'retainer', 0, 500000), (2, 'Birch Insurance', 'retainer', 0, 450000),"
        " (3, 'Cedar Group', 'per_lead', 6000, 0)"
    )
    prod = sdk.v1.products.create(params={"name": "Lead generation retainer"})
    monthly = sdk.v1.plans.create(
        params={"amount": 5000_00, "currency": "usd", "interval": "month", "product": prod.id}
    )
    annual = sdk.v1.plans.create(
        params={"amount": 54000_00, "currency": "usd", "interval": "year", "product": prod.id}
    )
    per_lead = sdk.v1.plans.create(
        params={"amount": 60_00, "currency": "usd", "interval": "month", "product": prod.id}
    )
    a = _customer(sdk, "Acme Agency", {"leadops_workspace": "acme agency"})
    b = _customer(sdk, "Birch Insurance", {"leadops_workspace": "2"})
    c = _customer(sdk, "Cedar Group")
    sa = sdk.v1.subscriptions.create(params={"customer": a, "items": [{"plan": monthly.id}]})
    sdk.v1.subscriptions.create(params={"customer": b, "items": [{"plan": annual.id}]})
    _per_lead_invoice(sdk, c, 12, per_lead.id)
    charges = {ch.customer: ch for ch in sdk.v1.charges.list().auto_paging_iter()}
    sdk.v1.refunds.create(params={"charge": charges[a].id, "amount": 123_45})
    sdk.v1.refunds.create(params={"charge": charges[c].id, "amount": 60_00})
    return {"db": empty_db, "a": a, "b": b, "c": c, "sub_a": sa.id, "per_lead": per_lead.id}


def _fake_totals(sdk) -> dict:
    invoices = list(sdk.v1.invoices.list().auto_paging_iter())
    refunds = list(sdk.v1.refunds.list().auto_paging_iter())
    charges = {ch.id: ch for ch in sdk.v1.charges.list().auto_paging_iter()}
    paid: dict[str, int] = {}
    for inv in invoices:
        if inv.status == "paid":
            paid[inv.customer] = paid.get(inv.customer, 0) + inv.amount_paid
    for r in refunds:
        cust = charges[r.charge].customer
        paid[cust] = paid.get(cust, 0) - r.amount
    bts = list(sdk.v1.balance_transactions.list().auto_paging_iter())
    return {
        "net_revenue": paid,
        "counts": {
            res: len(
                list(
                    getattr(sdk.v1, res)
                    .list(params={"status": "all"} if res == "subscriptions" else {})
                    .auto_paging_iter()
                )
            )
            for res in TABLE_OF
        },
        "bt_amount": sum(b.amount for b in bts),
        "bt_fee": sum(b.fee for b in bts),
        "bt_net": sum(b.net for b in bts),
    }


def _sync(db, **kw):
    conn = StripeConnector(stripe_sync.api_key(), max_network_retries=0)
    return stripe_sync.sync_stripe(db, conn=conn, **kw), conn


def test_sync_matches_the_fake_to_the_cent_and_resync_adds_nothing(account, sdk):
    db = account["db"]
    result, conn = _sync(db, triggered_by="test")
    fake = _fake_totals(sdk)
    for res, table in TABLE_OF.items():
        assert db.scalar(f"SELECT count(*) FROM {table}") == fake["counts"][res], res
    # localstripe refuses `created` filters; the connector noticed and filtered itself
    assert result["status"] == "succeeded" and result["unmapped"] == 1
    row = db.rows("SELECT sum(amount), sum(fee), sum(net) FROM stripe_balance_transactions")[0]
    assert row == (fake["bt_amount"], fake["bt_fee"], fake["bt_net"])
    # mapping from metadata: by name (any case) and by id; the third customer is unmapped
    mapped = dict(db.rows("SELECT customer_id, workspace_id FROM stripe_customer_workspace"))
    assert mapped == {account["a"]: 1, account["b"]: 2, account["c"]: None}
    assert stripe_sync.unmapped_customers(db)["customer_id"].to_list() == [account["c"]]
    today = dt.datetime.now(dt.UTC).date()
    month = revenue.client_month(db, Scope.all(), today, today)
    by_ws = dict(zip(month["workspace_id"], month["net_cash"], strict=True))
    assert by_ws[1] == fake["net_revenue"][account["a"]] == 5000_00 - 123_45
    assert by_ws[2] == fake["net_revenue"][account["b"]] == 54000_00
    assert by_ws[3] == 0  # Cedar's customer is not mapped yet
    # the annual plan paid today: a twelfth is for this month, the rest paid in advance
    b = month.row(by_predicate=pl.col("workspace_id") == 2, named=True)
    assert b["invoiced"] == b["collected"] == b["cash_for_month"] == 4500_00
    assert b["cash_in_advance"] == 54000_00 - 4500_00 and b["cash_for_earlier"] == 0
    assert all(not reconcile.broken(r) for r in month.iter_rows(named=True))
    # a real sync with a key: Stripe shows as synced
    status = stripe_sync.status(db)
    assert status["configured"] and status["last_sync"] is not None and not status["sample"]
    assert revenue.unmapped_revenue(db, revenue.month_start(today)) == 12 * 60_00
    # MRR: the annual plan counts a twelfth a month
    assert revenue_admin.mrr_by_client(db, Scope.all(), today) == {1: 5000_00, 2: 4500_00}

    before = {t: db.scalar(f"SELECT count(*) FROM {t}") for t in stripe_sync.SCHEMAS}
    again, _ = _sync(db)
    assert {t: db.scalar(f"SELECT count(*) FROM {t}") for t in stripe_sync.SCHEMAS} == before
    assert again["status"] == "succeeded"
    runs = db.rows("SELECT status, triggered_by FROM sync_runs WHERE source = 'stripe' ORDER BY id")
    assert runs == [("succeeded", "test"), ("succeeded", "system")]
    cursors = dict(
        db.rows("SELECT resource, cursor_value FROM sync_cursors WHERE source = 'stripe'")
    )
    assert set(cursors) >= set(TABLE_OF) and all(int(v) > 0 for v in cursors.values())

    # staff map the unmapped customer in Settings; revenue follows, and the change is audited
    stripe_sync.map_customer(db, LOCAL_ADMIN, account["c"], 3)
    month = revenue.client_month(db, Scope.all(), today, today)
    cedar = month.filter(month["workspace_id"] == 3).row(0, named=True)
    assert cedar["net_cash"] == fake["net_revenue"][account["c"]] == 12 * 60_00 - 60_00
    assert cedar["invoiced"] == 12 * 60_00 and cedar["refunds"] == 60_00
    assert cedar["flags"] == "invoice without delivered leads"  # no interested replies synced
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'stripe.map_customer'") == 1
    with pytest.raises(PermissionDenied):
        stripe_sync.map_customer(db, User("ops@x.com", "operator"), account["c"], 1)


def test_incremental_sync_picks_up_new_objects_and_changes_to_open_ones(account, sdk):
    db = account["db"]
    _sync(db)
    d = _customer(sdk, "Dogwood Partners", {"leadops_workspace": "Cedar Group"})
    _per_lead_invoice(sdk, d, 3, account["per_lead"])
    sdk.v1.subscriptions.cancel(account["sub_a"])
    result, _ = _sync(db)
    assert db.scalar("SELECT workspace_id FROM stripe_customers WHERE id = ?", [d]) == 3
    assert (
        db.scalar("SELECT status FROM stripe_subscriptions WHERE id = ?", [account["sub_a"]])
        == "canceled"
    )
    fake = _fake_totals(sdk)
    for res, table in TABLE_OF.items():
        assert db.scalar(f"SELECT count(*) FROM {table}") == fake["counts"][res], res
    assert db.scalar("SELECT sum(amount_paid) FROM stripe_invoices") == sum(
        i.amount_paid for i in sdk.v1.invoices.list().auto_paging_iter()
    )
    # a full re-sync reads everything again and still duplicates nothing
    before = {t: db.scalar(f"SELECT count(*) FROM {t}") for t in stripe_sync.SCHEMAS}
    _sync(db, full=True)
    assert {t: db.scalar(f"SELECT count(*) FROM {t}") for t in stripe_sync.SCHEMAS} == before


def test_a_failed_sync_is_recorded_and_says_why(empty_db, monkeypatch):
    monkeypatch.setenv("LEADOPS_STRIPE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_SecretKeyNeverShown42")
    with pytest.raises(stripe_sync.StripeSyncError) as err:
        _sync(empty_db)
    assert "customers" in str(err.value) and "SecretKeyNeverShown" not in str(err.value)
    row = empty_db.rows("SELECT status, error FROM sync_runs WHERE source = 'stripe'")[0]
    assert row[0] == "failed" and "SecretKeyNeverShown" not in row[1]
    monkeypatch.delenv("STRIPE_API_KEY")
    with pytest.raises(stripe_sync.StripeSyncError, match="No Stripe API key"):
        stripe_sync.connector()


def test_cli_sync_stripe_runs_the_job(account, sdk):
    from typer.testing import CliRunner

    from core.cli.main import app

    account["db"].close()  # the CLI opens the file itself
    from core.platform import store

    store.close_all()
    out = CliRunner().invoke(app, ["sync", "stripe"])
    assert out.exit_code == 0, out.output
    assert (
        "Stripe: succeeded" in out.output
        and "1 Stripe customer(s) belong to no client" in out.output
    )


def test_parsers_read_current_api_shapes():
    """Shapes localstripe does not produce: invoice `parent`, line `pricing`, item-level periods."""
    inv, lines = parse_invoice(
        {
            "id": "in_1",
            "customer": "cus_1",
            "status": "paid",
            "amount_due": 900_00,
            "amount_paid": 900_00,
            "status_transitions": {"paid_at": 1_790_000_000},
            "total_taxes": [{"amount": 12}],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": "sub_9"},
            },
            "created": 1_789_000_000,
            "brand_new_field": {"ignored": True},
        },
        [
            {
                "id": "il_1",
                "amount": 1000_00,
                "discount_amounts": [{"amount": 100_00, "discount": "di_1"}],
                "pricing": {"type": "price_details", "price_details": {"price": "price_9"}},
                "parent": {
                    "type": "subscription_item_details",
                    "subscription_item_details": {"subscription": "sub_9", "proration": False},
                },
                "period": {"start": 1_789_000_000, "end": 1_791_600_000},
            }
        ],
    )
    assert (
        inv["subscription_id"] == "sub_9" and inv["paid_at"] == 1_790_000_000 and inv["tax"] == 12
    )
    assert lines[0]["price_id"] == "price_9" and lines[0]["discount_amount"] == 100_00
    assert lines[0]["line_type"] == "subscription" and lines[0]["subscription_id"] == "sub_9"
    sub, items = parse_subscription(
        {"id": "sub_9", "customer": {"id": "cus_1"}, "status": "active", "discounts": []},
        [
            {
                "id": "si_1",
                "quantity": 2,
                "current_period_start": 1_789_000_000,
                "current_period_end": 1_791_600_000,
                "price": {
                    "id": "price_9",
                    "object": "price",
                    "unit_amount": 300_00,
                    "currency": "usd",
                    "recurring": {
                        "interval": "month",
                        "interval_count": 1,
                        "usage_type": "licensed",
                    },
                },
            }
        ],
    )
    assert sub["customer_id"] == "cus_1" and sub["current_period_start"] == 1_789_000_000
    assert items[0]["unit_amount"] == 300_00 and items[0]["quantity"] == 2
    plan = parse_price({"id": "gold", "object": "plan", "amount": 1200_00, "interval": "year"})
    assert plan["kind"] == "plan" and plan["interval_count"] == 1 and plan["unit_amount"] == 1200_00


def test_the_schedule_runs_stripe_only_with_a_key_and_after_the_interval(empty_db, monkeypatch):
    from core.app import Scheduler

    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    sched = Scheduler(empty_db)
    assert not sched.stripe_due()
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")
    assert sched.stripe_due()
    empty_db.execute(
        "INSERT INTO sync_runs (source, status, triggered_by) VALUES ('stripe', 'succeeded', 'schedule')"
    )
    assert not sched.stripe_due()  # ran just now; next after stripe_sync_interval_minutes
