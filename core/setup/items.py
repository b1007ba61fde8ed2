"""One line of the setup checklist, and how a stored Test outcome becomes one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.platform.connections import ago

DONE, MISSING, FAILING = "done", "missing", "failing"
STATUSES = (DONE, MISSING, FAILING)


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    status: str  # done, missing or failing
    reason: str  # in words: what is there, or what is not and what that means
    page: str  # the page where it is fixed: pages/<page>.py
    where: str  # that place in words, e.g. "Settings → Connections"
    command: str | None = None  # the same fix from the shell, when there is one

    def but(self, **changes: Any) -> Item:
        return dataclasses.replace(self, **changes)


def from_test(
    item: Item,
    test: dict[str, Any] | None,
    target: str,
    secret_changed_at: dt.datetime | None,
    now: dt.datetime,
    what: str,
) -> Item:
    """A configured connection's line from its last Test: not tested (or changed since) is
    missing, a passed Test is done, a failed one is failing with what it said."""
    item = item.but(command="leadops setup --test")
    if test is None:
        return item.but(
            status=MISSING, reason=f"{what} is set but not tested yet: press Test to check it."
        )
    changed = test["target"] != target or (
        secret_changed_at is not None and secret_changed_at > test["tested_at"]
    )
    when = ago(test["tested_at"], now)
    if changed:
        return item.but(
            status=MISSING,
            reason=f"{what} changed after its last Test ({when}): press Test to check it again.",
        )
    if test["ok"]:
        return item.but(
            status=DONE, reason=f"{what}: {test['message']} (tested {when})", command=None
        )
    return item.but(
        status=FAILING, reason=f"{what}: the last Test ({when}) failed: {test['message']}"
    )
