"""MRR rules and movements: upgrade, downgrade, cancel at period end, annual plan, 100% coupon, trial."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from core.revenue import mrr


def t(y: int, m: int, d: int = 1) -> dt.datetime:
    return dt.datetime(y, m, d, tzinfo=dt.UTC)


MONTHS = [dt.date(2026, m, 1) for m in range(1, 7)]
AS_OF = t(2026, 6, 20)


def sub(sid="sub_1", customer="cus_1", **kw):
    base = {
        "id": sid,
        "customer_id": customer,
        "status": "active",
        "created": t(2026, 1, 10),
        "start_date": t(2026, 1, 10),
        "current_period_start": t(2026, 6, 10),
        "current_period_end": t(2026, 7, 10),
        "cancel_at_period_end": False,
    }
    return {**base, **kw}


def item(amount, interval="month", count=1, quantity=1):
    return {
        "unit_amount": amount,
        "interval": interval,
        "interval_count": count,
        "quantity": quantity,
    }


def line(sid, start, end, amount, interval="month", discount=0, proration=False):
    return {
        "subscription_id": sid,
        "period_start": start,
        "period_end": end,
        "amount": amount,
        "discount_amount": discount,
        "interval": interval,
        "interval_count": 1,
        "proration": proration,
    }


def series(phases):
    return {r["month"].month: r for r in mrr.month_series(phases, MONTHS, AS_OF)}


def monthly_lines(sid, amounts):
    """One invoiced monthly period starting on the 10th for each (month, amount)."""
    return [line(sid, t(2026, m, 10), t(2026, m + 1, 10), a) for m, a in amounts]


def test_normalise_annual_weekly_and_multi_month():
    assert mrr.normalise(1_200_00, "year", 1) == Decimal(100_00)
    assert mrr.cents(mrr.normalise(2_000_00, "year", 1)) == 16_667
    assert mrr.normalise(300_00, "month", 3) == Decimal(100_00)
    assert mrr.cents(mrr.normalise(100_00, "week", 1)) == 43_333
    assert mrr.normalise(5_00, None, None) == 0  # one-time price: not recurring


def test_new_then_upgrade_counts_expansion_in_the_invoiced_month():
    lines = monthly_lines(
        "sub_1", [(1, 1000_00), (2, 1000_00), (3, 1500_00), (4, 1500_00), (5, 1500_00)]
    )
    phases = mrr.line_phases(lines, {"sub_1": "cus_1"}) + mrr.subscription_phases(
        sub(), [item(1500_00)]
    )
    s = series(phases)
    assert s[1]["new"] == 1000_00 and s[1]["mrr"] == 1000_00
    assert s[2]["expansion"] == 0 and s[2]["mrr"] == 1000_00
    assert s[3]["expansion"] == 500_00 and s[3]["mrr"] == 1500_00
    assert s[6]["mrr"] == 1500_00


def test_downgrade_is_contraction_and_the_current_state_shows_before_it_is_invoiced():
    lines = monthly_lines("sub_1", [(m, 2000_00) for m in range(1, 6)])
    # downgraded during June's period; the June invoice said 2000, the subscription now says 1200
    lines.append(line("sub_1", t(2026, 6, 10), t(2026, 7, 10), 2000_00))
    phases = mrr.line_phases(lines, {"sub_1": "cus_1"}) + mrr.subscription_phases(
        sub(), [item(1200_00)]
    )
    s = series(phases)
    assert s[5]["mrr"] == 2000_00
    assert s[6]["contraction"] == -800_00 and s[6]["mrr"] == 1200_00


def test_cancel_at_period_end_stays_until_the_period_ends_then_churns():
    s_ = sub(
        cancel_at_period_end=True,
        current_period_start=t(2026, 4, 10),
        current_period_end=t(2026, 5, 10),
        canceled_at=t(2026, 4, 20),
    )
    lines = monthly_lines("sub_1", [(m, 900_00) for m in range(1, 5)])
    phases = mrr.line_phases(lines, {"sub_1": "cus_1"}) + mrr.subscription_phases(
        s_, [item(900_00)]
    )
    s = series(phases)
    assert s[4]["mrr"] == 900_00 and s[4]["churn"] == 0  # still paid for until May 10
    assert s[5]["churn"] == -900_00 and s[5]["mrr"] == 0
    assert s[6]["new"] == 0 and s[6]["mrr"] == 0


def test_annual_plan_is_a_twelfth_each_month_and_reactivation_after_churn():
    annual = [line("sub_a", t(2026, 1, 5), t(2027, 1, 5), 12_000_00, interval="year")]
    phases = mrr.line_phases(annual, {"sub_a": "cus_a"})
    s = series(phases)
    assert [s[m]["mrr"] for m in range(1, 7)] == [1000_00] * 6
    assert s[1]["new"] == 1000_00
    # a customer who left and came back is a reactivation, not new
    back = monthly_lines("sub_b", [(1, 500_00), (4, 500_00), (5, 500_00)])
    s = series(mrr.line_phases(back, {"sub_b": "cus_b"}))
    assert s[1]["new"] == 500_00 and s[2]["churn"] == -500_00 and s[3]["mrr"] == 0
    assert s[4]["reactivation"] == 500_00 and s[4]["new"] == 0


def test_full_coupon_makes_mrr_zero_and_partial_coupons_reduce_it():
    lines = monthly_lines("sub_1", [(1, 1000_00), (2, 1000_00), (3, 1000_00)])
    lines += [
        line("sub_1", t(2026, 4, 10), t(2026, 5, 10), 1000_00, discount=1000_00),
        line("sub_1", t(2026, 5, 10), t(2026, 6, 10), 1000_00, discount=1000_00),
    ]
    free = sub(discount_percent_off=100.0, discount_duration="forever")
    phases = mrr.line_phases(lines, {"sub_1": "cus_1"}) + mrr.subscription_phases(
        free, [item(1000_00)]
    )
    s = series(phases)
    assert s[4]["churn"] == -1000_00 and s[4]["mrr"] == 0  # an existing payer going free churns
    assert s[6]["mrr"] == 0
    quarter_off = sub(discount_percent_off=25.0, discount_duration="forever")
    assert mrr.subscription_phases(quarter_off, [item(1000_00)])[0].mrr == 750_00
    once = sub(discount_percent_off=50.0, discount_duration="once")
    assert mrr.subscription_phases(once, [item(1000_00)])[0].mrr == 1000_00
    repeating = sub(
        discount_amount_off=200_00, discount_duration="repeating", discount_end=t(2026, 8, 10)
    )
    ph = mrr.subscription_phases(repeating, [item(1000_00)])
    assert mrr.mrr_at(ph, t(2026, 7, 1)) == {"cus_1": 800_00}
    assert mrr.mrr_at(ph, t(2026, 9, 1)) == {"cus_1": 1000_00}


def test_trial_counts_nothing_until_it_converts():
    trialing = sub(
        status="trialing",
        trial_start=t(2026, 6, 1),
        trial_end=t(2026, 6, 25),
        current_period_start=t(2026, 6, 1),
        current_period_end=t(2026, 6, 25),
    )
    phases = mrr.subscription_phases(trialing, [item(800_00)])
    assert mrr.mrr_at(phases, t(2026, 6, 20)) == {}
    assert series(phases)[6]["new"] == 0
    assert mrr.mrr_at(phases, t(2026, 6, 26)) == {"cus_1": 800_00}
    # $0 trial invoices add nothing either
    zero = [line("sub_1", t(2026, 5, 1), t(2026, 6, 1), 0)]
    assert mrr.mrr_at(mrr.line_phases(zero, {"sub_1": "cus_1"}), t(2026, 5, 15)) == {}


def test_two_subscriptions_of_one_customer_and_statuses_that_count_nothing():
    a = mrr.subscription_phases(sub("s1"), [item(300_00)])
    b = mrr.subscription_phases(sub("s2"), [item(200_00, quantity=2)])
    assert mrr.mrr_at(a + b, t(2026, 6, 15)) == {"cus_1": 700_00}
    assert mrr.subscription_phases(sub(status="unpaid"), [item(300_00)]) == []
    metered = {**item(5_00), "usage_type": "metered"}
    assert mrr.subscription_phases(sub(), [metered])[0].mrr == 0
    # cancelling one of two is a contraction, not churn
    before = {"cus_1": 700_00}
    assert mrr.movements(before, {"cus_1": 400_00}, {"cus_1"})["contraction"] == -300_00
