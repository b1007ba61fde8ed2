"""The windows figures are counted over: one definition each, with the words that label it.

Every figure a page shows names its window, and every window comes from here:

- ``last_7_days``: the last 7 complete days, ending yesterday (today is still being sent, so a
  partial day would drag every per-day figure and week-over-week delta down). Per-day averages
  (emails sent a day against the plan) and the week's sent and replies use it, on every page and
  in the guardrail checks.
- ``previous_7_days``: the 7 days before that, for week-over-week deltas.
- ``month_to_date``: the 1st of the month through today, today included (interested replies arrive
  all day and count the moment they do).
- ``same_days_last_month``: the same number of days at the start of last month, for deltas.
- ``full_month``: the whole calendar month (targets are monthly).

A window is the closed date range ``[start, end]``; SQL compares ``day BETWEEN start AND end`` for
dates and ``ts >= start AND ts < end + 1 day`` for timestamps (``end_exclusive``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date  # inclusive
    name: str  # "last 7 days", "this month so far"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def end_exclusive(self) -> dt.date:
        return self.end + dt.timedelta(days=1)

    @property
    def span(self) -> str:
        """ "Nov 30–Dec 6" (a single day: "Dec 7")."""
        if self.start == self.end:
            return _day(self.start)
        if self.start.month == self.end.month:
            return f"{_day(self.start)}–{self.end.day}"
        return f"{_day(self.start)}–{_day(self.end)}"

    @property
    def label(self) -> str:
        """ "last 7 days (Nov 30–Dec 6)"."""
        return f"{self.name} ({self.span})"


def _day(d: dt.date) -> str:
    return f"{d:%b} {d.day}"


def last_7_days(as_of: dt.date) -> Window:
    """The 7 complete days before `as_of` (yesterday and the 6 days before it)."""
    return Window(as_of - dt.timedelta(days=7), as_of - dt.timedelta(days=1), "last 7 days")


def previous_7_days(as_of: dt.date) -> Window:
    """The 7 days before `last_7_days`."""
    return Window(as_of - dt.timedelta(days=14), as_of - dt.timedelta(days=8), "the 7 days before")


def month_to_date(as_of: dt.date) -> Window:
    """The 1st of `as_of`'s month through `as_of` itself."""
    return Window(as_of.replace(day=1), as_of, "this month so far")


def same_days_last_month(as_of: dt.date) -> Window:
    """As many days of last month as `month_to_date` has (cut at last month's end)."""
    start = (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return Window(
        start, start + dt.timedelta(days=min(as_of.day, days) - 1), "same days last month"
    )


def full_month(as_of: dt.date) -> Window:
    """The whole calendar month `as_of` falls in."""
    start = as_of.replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    return Window(start, start.replace(day=days), "the whole month")
