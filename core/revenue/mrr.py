"""Monthly recurring revenue and its movements, as pure functions over subscription records.

A subscription's MRR over time is a list of `Phase`s (from, until, monthly cents):

* every paid service period on an invoice (a subscription line that is not a proration) is a
  phase of its line amount net of discounts, normalised to a month; that is the history, and
  upgrades or downgrades show from the period they are invoiced for;
* the subscription's current state (items × quantity, its discount) is a phase from its current
  period start, open-ended unless it ends (`ended_at`, `cancel_at`, or the period end when it is
  cancelled at period end) — so the current month reflects a change before it is invoiced.

Where phases of one subscription overlap, the one that starts last wins (the current state
wins a tie). Rules: annual and other multi-month plans are divided by their months (weekly × 52/12,
daily × 365/12); trials count nothing until they end; recurring coupons (forever, repeating
until their end) reduce MRR and a 100% coupon makes it zero; one-time coupons and metered items
are left out; `incomplete`, `incomplete_expired` and `unpaid` subscriptions count nothing.

Movements between two months, per customer: new (from zero, never paid before), reactivation
(from zero, paid before), expansion, contraction, churn (to zero).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")
_MONTHS_PER = {
    "month": Decimal(1),
    "year": Decimal(12),
    "week": Decimal(12) / Decimal(52),
    "day": Decimal(12) / Decimal(365),
}
NO_MRR_STATUSES = {"incomplete", "incomplete_expired", "unpaid"}
FAR = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Phase:
    customer: str
    subscription: str
    start: dt.datetime
    end: dt.datetime | None  # None: until further notice
    mrr: int  # cents a month
    current: bool = False  # from the subscription's current state (wins a tie)


def normalise(
    amount_cents: int | Decimal, interval: str | None, interval_count: int | None
) -> Decimal:
    """The monthly amount of a recurring price: $1,200/year → $100/month."""
    if interval not in _MONTHS_PER:
        return Decimal(0)
    return Decimal(amount_cents) / (_MONTHS_PER[interval] * Decimal(interval_count or 1))


def cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _discounted(monthly: Decimal, percent_off: float | None, amount_off: int | None) -> Decimal:
    if percent_off:
        monthly = monthly * (Decimal(100) - Decimal(str(percent_off))) / Decimal(100)
    if amount_off:
        monthly = monthly - Decimal(amount_off)
    return max(monthly, Decimal(0))


def subscription_phases(sub: dict, items: Sequence[dict]) -> list[Phase]:
    """The phases of a subscription's current state (none when it counts nothing)."""
    status = sub.get("status") or "active"
    if status in NO_MRR_STATUSES:
        return []
    base = sum(
        (
            normalise(
                int(i.get("unit_amount") or 0) * int(i.get("quantity") or 1),
                i.get("interval"),
                i.get("interval_count"),
            )
            for i in items
            if (i.get("usage_type") or "licensed") == "licensed"
        ),
        Decimal(0),
    )
    start = sub.get("current_period_start") or sub.get("start_date") or sub.get("created")
    trial_end = sub.get("trial_end")
    if status == "trialing" or (trial_end and trial_end > start):
        if not trial_end:
            return []
        start = max(start, trial_end)  # the trial counts nothing; paid from its end
    end = sub.get("ended_at")
    if end is None and sub.get("cancel_at"):
        end = sub["cancel_at"]
    if end is None and sub.get("cancel_at_period_end"):
        end = sub.get("current_period_end")
    if status == "canceled" and end is None:
        end = sub.get("canceled_at") or start
    duration = sub.get("discount_duration")
    pct, off = sub.get("discount_percent_off"), sub.get("discount_amount_off")
    customer, sid = sub["customer_id"], sub["id"]
    if duration in ("forever", "repeating") and (pct or off):
        disc_end = sub.get("discount_end") if duration == "repeating" else None
        discounted = cents(_discounted(base, pct, off))
        if disc_end and disc_end <= start:
            return [Phase(customer, sid, start, end, cents(base), True)]
        if disc_end and (end is None or disc_end < end):
            return [
                Phase(customer, sid, start, disc_end, discounted, True),
                Phase(customer, sid, disc_end, end, cents(base), True),
            ]
        return [Phase(customer, sid, start, end, discounted, True)]
    return [Phase(customer, sid, start, end, cents(base), True)]


def line_phases(lines: Iterable[dict], customer_of: dict[str, str]) -> list[Phase]:
    """Phases from invoiced service periods (subscription lines that are not prorations)."""
    out = []
    for ln in lines:
        sid = ln.get("subscription_id")
        if not sid or ln.get("proration") or not ln.get("interval") or sid not in customer_of:
            continue
        if (
            not ln.get("period_start")
            or not ln.get("period_end")
            or ln["period_end"] <= ln["period_start"]
        ):
            continue
        net = int(ln.get("amount") or 0) - int(ln.get("discount_amount") or 0)
        monthly = cents(normalise(max(net, 0), ln["interval"], ln.get("interval_count")))
        out.append(Phase(customer_of[sid], sid, ln["period_start"], ln["period_end"], monthly))
    return out


def mrr_at(phases: Iterable[Phase], t: dt.datetime) -> dict[str, int]:
    """MRR per customer at instant `t` (customers at zero are left out)."""
    best: dict[str, Phase] = {}
    for p in phases:
        if p.start <= t < (p.end or FAR):
            cur = best.get(p.subscription)
            if cur is None or (p.start, p.current) > (cur.start, cur.current):
                best[p.subscription] = p
    out: dict[str, int] = {}
    for p in best.values():
        out[p.customer] = out.get(p.customer, 0) + p.mrr
    return {c: v for c, v in out.items() if v > 0}


def movements(
    before: dict[str, int], after: dict[str, int], paid_before: set[str]
) -> dict[str, int]:
    """MRR movements from `before` to `after` (cents; churn and contraction are negative)."""
    out = dict.fromkeys(MOVEMENTS, 0)
    for c in set(before) | set(after):
        a, b = before.get(c, 0), after.get(c, 0)
        if a == 0 and b > 0:
            out["reactivation" if c in paid_before else "new"] += b
        elif a > 0 and b == 0:
            out["churn"] -= a
        elif b > a:
            out["expansion"] += b - a
        elif b < a:
            out["contraction"] -= a - b
    return out


def month_series(
    phases: Sequence[Phase], months: Sequence[dt.date], as_of: dt.datetime
) -> list[dict]:
    """For each month: MRR at its end (or at `as_of` for the running month), the movements from
    the month before, and customers and their MRR."""
    out = []
    paid: set[str] = set()
    first = months[0]
    prev_point = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC) - dt.timedelta(
        microseconds=1
    )
    prev = mrr_at(phases, prev_point)
    # customers who had MRR at any month end before the first month count as "paid before"
    for p in phases:
        if p.mrr > 0 and p.start <= prev_point:
            paid.add(p.customer)
    for m in months:
        nxt = (dt.datetime(m.year, m.month, 1, tzinfo=dt.UTC) + dt.timedelta(days=32)).replace(
            day=1
        )
        point = min(nxt - dt.timedelta(microseconds=1), as_of)
        cur = mrr_at(phases, point)
        moves = movements(prev, cur, paid)
        out.append(
            {
                "month": m,
                "starting_mrr": sum(prev.values()),
                **moves,
                "mrr": sum(cur.values()),
                "customers": len(cur),
                "by_customer": cur,
            }
        )
        paid |= set(cur)
        prev = cur
    return out
