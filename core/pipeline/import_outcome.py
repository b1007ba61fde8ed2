"""What became of an import's contacts: batched into which renewal window, uploaded, removed and
why, still waiting for a run; and the renewal month given to rows the file had no purchase
date for. Read from the contacts themselves, so it stays true after later runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.platform.store import Database

REMOVED = ("rejected", "invalid")
WAITING = ("raw", "filtered", "verifying", "verified")


def outcome(db: Database, import_id: int) -> dict[str, Any]:
    """Counts for one import: `contacts`, `batched` and `uploaded` (lists of (window, count),
    window like "Feb 1–7"), `removed` (list of (reason, count), most first), `waiting`,
    `no_purchase_date` and `given_months` (the renewal months those rows were given)."""
    rows = db.rows(
        """
        SELECT c.status,
               CASE WHEN c.status IN ('batched', 'uploaded') AND b.id IS NOT NULL
                    THEN strftime(b.window_start, '%b %-d') || '–' || strftime(b.window_end, '%-d')
               END AS win,
               min(b.window_start) AS start,
               CASE WHEN c.status = 'invalid'
                    THEN 'invalid address (' || coalesce(c.verification_result, 'verification') || ')'
                    ELSE c.reject_reason END AS reason,
               count(*) AS n
        FROM contacts c LEFT JOIN batches b ON b.id = c.batch_id
        WHERE c.import_id = ?
        GROUP BY ALL ORDER BY start NULLS LAST, n DESC
        """,
        [import_id],
    )
    out: dict[str, Any] = {
        "contacts": 0,
        "batched": [],
        "uploaded": [],
        "removed": [],
        "waiting": 0,
    }
    removed: dict[str, int] = {}
    for status, win, _, reason, n in rows:
        n = int(n)
        out["contacts"] += n
        if status in ("batched", "uploaded"):
            out[status].append((win or "a batch", n))
        elif status in REMOVED:
            key = reason or status
            removed[key] = removed.get(key, 0) + n
        else:
            out["waiting"] += n
    out["removed"] = sorted(removed.items(), key=lambda kv: -kv[1])
    given = db.rows(
        "SELECT renewal_month, count(*) FROM contacts WHERE import_id = ? AND purchase_date IS NULL"
        " GROUP BY 1 ORDER BY 1 NULLS LAST",
        [import_id],
    )
    out["no_purchase_date"] = sum(int(n) for _, n in given)
    out["given_months"] = [(m, int(n)) for m, n in given]
    return out


def _join(parts: list[str]) -> str:
    return ", ".join(parts)


def summary(o: dict[str, Any]) -> str:
    """One sentence, e.g. "Your 20 contacts: 18 batched into Feb 1–7, 2 removed (role account)."
    with a second about the renewal month rows without a purchase date were given."""
    if not o["contacts"]:
        return "No contacts were imported from this file."
    parts = []
    for key, verb in (("uploaded", "uploaded"), ("batched", "batched")):
        if o[key]:
            total = sum(n for _, n in o[key])
            wins = _join([w if len(o[key]) == 1 else f"{w} ({n:,})" for w, n in o[key]])
            parts.append(f"{total:,} {verb} into {wins}")
    if o["removed"]:
        total = sum(n for _, n in o["removed"])
        why = _join([r if len(o["removed"]) == 1 else f"{r} {n:,}" for r, n in o["removed"]])
        parts.append(f"{total:,} removed ({why})")
    if o["waiting"]:
        parts.append(f"{o['waiting']:,} waiting for a pipeline run")
    text = f"Your {o['contacts']:,} contacts: {_join(parts)}."
    if o["no_purchase_date"]:
        months = [m for m, _ in o["given_months"] if m is not None]
        unset = sum(n for m, n in o["given_months"] if m is None)
        bits = []
        if months:
            bits.append(
                "given the renewal month "
                + " and ".join(f"{m:%B %Y}" if isinstance(m, dt.date) else str(m) for m in months)
            )
        if unset:
            bits.append(
                f"{unset:,} with no renewal month yet (the next run of any month takes them)"
            )
        text += f" {o['no_purchase_date']:,} had no purchase date: " + "; ".join(bits) + "."
    return text
