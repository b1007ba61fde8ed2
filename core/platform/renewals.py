"""Renewal calendar: months, weekly renewal windows and the names batches get."""

from __future__ import annotations

import calendar
import datetime as dt


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def renewal_windows(month: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The weekly renewal windows of a month: days 1-7, 8-14, 15-21, 22-end."""
    last = calendar.monthrange(month.year, month.month)[1]
    return [
        (month.replace(day=a), month.replace(day=b))
        for a, b in ((1, 7), (8, 14), (15, 21), (22, last))
    ]


def batch_name(start: dt.date, end: dt.date) -> str:
    return f"{start:%B} {ordinal(start.day)}–{ordinal(end.day)} renewals"
