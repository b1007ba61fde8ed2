"""The demo's Stripe account and cost lines: what a Stripe sync and staff would have stored.

Retainer clients pay a monthly subscription (one an annual plan, one with a 20% coupon, one
upgraded, one that cancelled and came back); per-lead clients get an invoice at the start of each
month for the previous month's interested leads (from the same `interested_leads` count the
Overview uses). Paid invoices have a charge and a balance transaction with Stripe's card fee
(2.9% + 30¢); a few charges are partly refunded. A former client's customer is mapped to no
workspace, and one per-lead client is trialling an add-on. Staff keep monthly account-management
cost lines per client.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from core.platform.renewals import add_months, month_start
from core.platform.store import insert_frame as _insert

TABLES = [
    "stripe_customer_map",
    "stripe_products",
    "stripe_prices",
    "stripe_subscriptions",
    "stripe_subscription_items",
    "stripe_invoice_lines",
    "stripe_charges",
    "stripe_refunds",
    "stripe_balance_transactions",
]


def _ts(d: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, hour, tzinfo=dt.UTC)


def _fee(amount: int) -> int:
    return (amount * 29 + 500) // 1000 + 30


class Ledger:
    def __init__(self, stamp: dt.datetime) -> None:
        self.stamp = stamp
        self.rows: dict[str, list[dict]] = {
            t: []
            for t in [
                "stripe_invoices",
                "stripe_invoice_lines",
                "stripe_charges",
                "stripe_refunds",
                "stripe_balance_transactions",
            ]
        }
        self.n = 0

    def invoice(
        self,
        customer: str,
        amount: int,
        period: tuple[dt.date, dt.date],
        created: dt.datetime,
        *,
        status: str = "paid",
        subscription: str | None = None,
        price: tuple[str, str, int] | None = None,  # (price id, interval, interval count)
        description: str | None = None,
        discount: int = 0,
        paid_after_days: int = 2,
    ) -> None:
        if created > self.stamp:
            return
        self.n += 1
        k = self.n
        due = amount - discount
        paid_at = created + dt.timedelta(days=paid_after_days)
        paid = status == "paid" and paid_at <= self.stamp
        status = "open" if status == "paid" and not paid else status
        inv_id = f"in_demo{k:06d}"
        self.rows["stripe_invoices"].append(
            {
                "id": inv_id,
                "customer_id": customer,
                "subscription_id": subscription,
                "status": status,
                "currency": "usd",
                "amount_due": due,
                "amount_paid": due if paid else 0,
                "amount_remaining": 0 if paid else due,
                "subtotal": amount,
                "total": due,
                "tax": 0,
                "billing_reason": "subscription_cycle" if subscription else "manual",
                "period_start": _ts(period[0], 0),
                "period_end": _ts(period[1], 0),
                "created": created,
                "paid_at": paid_at if paid else None,
                "description": description,
                "service_month": month_start(period[0]),
                "synced_at": self.stamp,
            }
        )
        self.rows["stripe_invoice_lines"].append(
            {
                "id": f"il_demo{k:06d}",
                "invoice_id": inv_id,
                "subscription_id": subscription,
                "price_id": price[0] if price else None,
                "description": description,
                "amount": amount,
                "discount_amount": discount,
                "quantity": 1,
                "proration": False,
                "line_type": "subscription" if subscription else "invoiceitem",
                "interval": price[1] if price else None,
                "interval_count": price[2] if price else None,
                "period_start": _ts(period[0], 0),
                "period_end": _ts(period[1], 0),
                "synced_at": self.stamp,
            }
        )
        if paid and due > 0:
            self.charge(k, customer, due, paid_at, inv_id)

    def charge(self, k: int, customer: str, amount: int, when: dt.datetime, invoice: str) -> None:
        fee = _fee(amount)
        self.rows["stripe_charges"].append(
            {
                "id": f"ch_demo{k:06d}",
                "customer_id": customer,
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "currency": "usd",
                "status": "succeeded",
                "paid": True,
                "refunded": False,
                "balance_transaction_id": f"txn_demo{k:06d}",
                "payment_intent_id": f"pi_demo{k:06d}",
                "invoice_id": invoice,
                "created": when,
                "synced_at": self.stamp,
            }
        )
        self.bt(f"txn_demo{k:06d}", amount, fee, "charge", f"ch_demo{k:06d}", when)

    def bt(self, id_, amount, fee, type_, source, when) -> None:
        self.rows["stripe_balance_transactions"].append(
            {
                "id": id_,
                "amount": amount,
                "fee": fee,
                "net": amount - fee,
                "currency": "usd",
                "type": type_,
                "reporting_category": type_,
                "source_id": source,
                "status": "available",
                "created": when,
                "available_on": when + dt.timedelta(days=2),
                "synced_at": self.stamp,
            }
        )

    def refund(self, customer: str, month: dt.date, amount: int, day: int = 12) -> None:
        """Refund part of the customer's charge paid in `month`."""
        for ch in self.rows["stripe_charges"]:
            if ch["customer_id"] == customer and month_start(ch["created"].date()) == month:
                when = ch["created"] + dt.timedelta(days=day)
                if when > self.stamp:
                    return
                rid = ch["id"].replace("ch_", "re_")
                ch["amount_refunded"] += amount
                self.rows["stripe_refunds"].append(
                    {
                        "id": rid,
                        "charge_id": ch["id"],
                        "payment_intent_id": ch["payment_intent_id"],
                        "amount": amount,
                        "currency": "usd",
                        "status": "succeeded",
                        "balance_transaction_id": rid.replace("re_", "txn_re_"),
                        "created": when,
                        "synced_at": self.stamp,
                    }
                )
                self.bt(rid.replace("re_", "txn_re_"), -amount, 0, "refund", rid, when)
                return


def billing(
    cur, ws: pl.DataFrame, as_of: dt.date, stamp: dt.datetime, first_month: dt.date
) -> None:
    this_month = month_start(as_of)
    cur.execute("DELETE FROM revenue_snapshots")  # snapshots of a previous dataset mean nothing now
    led = Ledger(stamp)
    customers, subs, items, prices = [], [], [], []
    products = [
        {"id": "prod_demo_retainer", "name": "Lead generation retainer", "active": True},
        {"id": "prod_demo_leads", "name": "Interested leads", "active": True},
        {"id": "prod_demo_crm", "name": "CRM delivery add-on", "active": True},
    ]
    interested = dict(
        ((wid, m), n)
        for wid, m, n in cur.execute(
            "SELECT workspace_id, date_trunc('month', interested_at)::DATE, count(*) FROM interested_leads GROUP BY ALL"
        ).fetchall()
    )
    for w in ws.iter_rows(named=True):
        cid = f"cus_demo{w['id']}"
        customers.append(
            {
                "id": cid,
                "email": w["contact_email"],
                "name": w["name"],
                "workspace_id": w["id"],
                "metadata": json.dumps({"leadops_workspace": w["name"]}),
                "created": w["created_at"],
                "currency": "usd",
                "delinquent": False,
                "deleted": False,
                "synced_at": stamp,
            }
        )
        start = w["created_at"].date()
        if w["billing_type"] == "retainer":
            _retainer(led, w, cid, start, as_of, subs, items, prices)
            continue
        m = max(add_months(first_month, -1), add_months(month_start(start), 1))
        while m < this_month:
            n = interested.get((w["id"], m), 0)
            status = "paid"
            if m == add_months(this_month, -1) and w["id"] % 5 == 0:
                status = "open"
            elif m == add_months(this_month, -2) and w["id"] == 7:
                status = "uncollectible"
            billed = n - 4 if (w["id"] == 8 and m == add_months(this_month, -2) and n > 4) else n
            led.invoice(
                cid,
                billed * w["price_per_lead_cents"],
                (m, add_months(m, 1)),
                _ts(add_months(m, 1) + dt.timedelta(days=1)),
                status=status,
                description=f"{m:%B %Y} leads ({billed} interested)",
                paid_after_days=3,
            )
            m = add_months(m, 1)
    # refunds: leads a client disputed, a goodwill credit
    for wid, back, amount in [(1, 1, 6 * 55_00), (4, 2, 3 * 50_00), (3, 3, 250_00)]:
        led.refund(f"cus_demo{wid}", add_months(this_month, -back), amount)
    # a former client, never mapped to a workspace, who churned
    customers.append(
        {
            "id": "cus_demo_former",
            "email": "billing@harborlineinsurance.com",
            "name": "Harborline Insurance (former client)",
            "workspace_id": None,
            "metadata": json.dumps({}),
            "created": _ts(add_months(this_month, -15)),
            "currency": "usd",
            "delinquent": False,
            "deleted": False,
            "synced_at": stamp,
        }
    )
    former = {
        "id": 0,
        "name": "Harborline",
        "retainer_cents": 4_000_00,
        "created_at": _ts(add_months(this_month, -15) + dt.timedelta(days=4)),
    }
    _retainer(
        led,
        former,
        "cus_demo_former",
        former["created_at"].date(),
        as_of,
        subs,
        items,
        prices,
        end_months=9,
    )
    # a second billing entity of client 2 (its other office), mapped by staff in Settings
    customers.append(
        {
            "id": "cus_demo2_office",
            "email": "accounts@okafor-north.com",
            "name": "Okafor North Office",
            "workspace_id": None,
            "metadata": json.dumps({}),
            "created": _ts(add_months(this_month, -2)),
            "currency": "usd",
            "delinquent": False,
            "deleted": False,
            "synced_at": stamp,
        }
    )
    m = add_months(this_month, -2)
    led.invoice(
        "cus_demo2_office", 750_00, (m, m), _ts(m + dt.timedelta(days=6)), description="CRM setup"
    )
    cur.execute(
        "INSERT INTO stripe_customer_map (customer_id, workspace_id, updated_by, updated_at) VALUES ('cus_demo2_office', 2, 'demo', ?)",
        [stamp],
    )
    # a per-lead client trialling the CRM delivery add-on (trials count no MRR)
    trial_start = _ts(as_of - dt.timedelta(days=10))
    subs.append(
        _sub(
            "sub_demo_trial",
            "cus_demo1",
            trial_start,
            "trialing",
            trial_start,
            trial_start + dt.timedelta(days=14),
        )
    )
    subs[-1]["trial_start"], subs[-1]["trial_end"] = (
        trial_start,
        trial_start + dt.timedelta(days=14),
    )
    items.append(
        _item(
            "si_demo_trial",
            "sub_demo_trial",
            "price_demo_crm",
            150_00,
            "month",
            trial_start,
            trial_start + dt.timedelta(days=14),
        )
    )
    prices.append(_price("price_demo_crm", "prod_demo_crm", 150_00, "month", 1, stamp))
    prices.append(_price("price_demo_leads", "prod_demo_leads", None, None, None, stamp))
    _insert(cur, "stripe_customers", pl.DataFrame(customers))
    _insert(
        cur,
        "stripe_products",
        pl.DataFrame(products).with_columns(
            pl.lit(stamp).alias("created"), pl.lit(stamp).alias("synced_at")
        ),
    )
    _insert(cur, "stripe_prices", pl.DataFrame(prices))
    _insert(cur, "stripe_subscriptions", pl.DataFrame(subs))
    _insert(cur, "stripe_subscription_items", pl.DataFrame(items))
    for table, rows in led.rows.items():
        if rows:
            _insert(cur, table, pl.DataFrame(rows))
    cur.execute(
        """
        INSERT INTO workspace_costs (workspace_id, month, category, amount_cents, note, updated_by, updated_at)
        SELECT w.id, m, 'account management', 400_00, 'share of an account manager', 'demo', ?
        FROM workspaces w, (SELECT unnest(generate_series(?::DATE - INTERVAL 17 MONTH, ?::DATE, INTERVAL 1 MONTH))::DATE AS m)
        WHERE m >= date_trunc('month', w.created_at)::DATE
        """,
        [stamp, this_month, this_month],
    )
    cur.execute(
        "INSERT INTO workspace_costs (workspace_id, month, category, amount_cents, note, updated_by, updated_at)"
        " VALUES (2, ?, 'list purchase', 1250_00, 'extra homeowner list for a ZIP gap fill', 'demo', ?)",
        [add_months(this_month, -1), stamp],
    )


def _price(pid, product, amount, interval, count, created) -> dict:
    return {
        "id": pid,
        "kind": "price",
        "product_id": product,
        "nickname": None,
        "currency": "usd",
        "unit_amount": amount,
        "interval": interval,
        "interval_count": count,
        "usage_type": "licensed" if interval else None,
        "active": True,
        "created": created,
        "synced_at": created,
    }


def _sub(sid, customer, created, status, period_start, period_end) -> dict:
    return {
        "id": sid,
        "customer_id": customer,
        "status": status,
        "created": created,
        "start_date": created,
        "trial_start": None,
        "trial_end": None,
        "current_period_start": period_start,
        "current_period_end": period_end,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "ended_at": None,
        "discount_percent_off": None,
        "discount_amount_off": None,
        "discount_duration": None,
        "discount_end": None,
        "metadata": "{}",
        "synced_at": created,
    }


def _item(iid, sid, price, amount, interval, period_start, period_end, count=1) -> dict:
    return {
        "id": iid,
        "subscription_id": sid,
        "price_id": price,
        "unit_amount": amount,
        "currency": "usd",
        "interval": interval,
        "interval_count": count,
        "usage_type": "licensed",
        "quantity": 1,
        "current_period_start": period_start,
        "current_period_end": period_end,
        "synced_at": period_start,
    }


def _retainer(led, w, cid, start, as_of, subs, items, prices, end_months=None) -> None:
    """A monthly (or, for client 12, annual) retainer subscription with its invoices."""
    wid, amount = w["id"], int(w["retainer_cents"])
    sid, anchor = f"sub_demo{wid}", min(start.day, 28)
    annual = wid == 12
    upgraded_at = add_months(month_start(as_of), -4) if wid == 3 else None
    coupon_from = add_months(month_start(as_of), -6) if wid == 6 else None
    paused = (
        (add_months(month_start(as_of), -7), add_months(month_start(as_of), -5))
        if wid == 9
        else None
    )
    price = f"price_demo_retainer{wid}"
    period = dt.date(start.year, start.month, anchor)
    month_no, last_period = 0, period
    while _ts(period) <= _ts(as_of) and (end_months is None or month_no < end_months):
        nxt = add_months(period, 12 if annual else 1).replace(day=anchor)
        base = amount * 12 * 9 // 10 if annual else amount
        if upgraded_at and period >= upgraded_at:
            base = amount + 1_000_00
        discount = base // 5 if coupon_from and period >= coupon_from else 0
        if not (paused and paused[0] <= period < paused[1]):
            led.invoice(
                cid,
                base,
                (period, nxt),
                _ts(period),
                subscription=sid,
                price=(price, "year" if annual else "month", 1),
                description="Lead generation retainer",
                discount=discount,
                paid_after_days=1,
            )
        last_period, period, month_no = period, nxt, month_no + 1
    created = _ts(dt.date(start.year, start.month, anchor))
    s = _sub(sid, cid, created, "active", _ts(last_period), _ts(period))
    current = amount * 12 * 9 // 10 if annual else amount + (1_000_00 if upgraded_at else 0)
    if coupon_from:
        s.update(discount_percent_off=20.0, discount_duration="forever")
    if end_months is not None:
        s.update(status="canceled", canceled_at=_ts(last_period), ended_at=_ts(period))
    subs.append(s)
    prices.append(
        _price(price, "prod_demo_retainer", current, "year" if annual else "month", 1, created)
    )
    items.append(
        _item(
            f"si_demo{wid}",
            sid,
            price,
            current,
            "year" if annual else "month",
            _ts(last_period),
            _ts(period),
        )
    )
