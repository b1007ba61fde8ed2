"""The suppression list: addresses never to contact again (unsubscribed, bounced, complaints).

Addresses come from files (a CSV or Excel sheet with an email column, or any first column, and
optionally a reason column) or are added and removed one by one, each time with a reason; every
change is audited. A file is read like a contact file (core/pipeline/import_files.py): its column
names reach SQL only quoted, and what cannot be read is refused in one sentence with nothing
written, while rows that are not email addresses are reported and the rest are added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from core.accounts import access
from core.pipeline import import_files
from core.pipeline.contact_import import EMAIL_RE, detect_mapping
from core.pipeline.import_files import (
    ImportError_,
    csv_problem,
    long_line_reason,
    reader_sql,
    row_in_file,
)
from core.platform import audit, suppression_store
from core.platform.store import Database, quote_ident

DEFAULT_FILE_REASON = "unsubscribed"
REASON_HEADERS = ("reason", "type", "status")
AUDITED_EMAILS = 50  # an audit entry lists the addresses of a change up to this many
SHOWN_REJECTS = 20


class SuppressionError(ValueError):
    """A change to the suppression list that cannot be made as asked; says why."""


def email_key(email: str) -> str:
    return (email or "").strip().lower()


_ADDRESS = re.compile(EMAIL_RE)


def is_address(email: str) -> bool:
    return bool(_ADDRESS.fullmatch(email or ""))


def _need_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise SuppressionError("Reason: say why (e.g. unsubscribed by phone); it is audited.")
    return reason[:200]


def _add(
    db: Database, user: access.User, pairs: list[tuple[str, str]], source: str, extra: dict
) -> int:
    """Add (email key, reason) pairs in one transaction with one audit entry; returns how many
    were new (an address already on the list keeps its first reason)."""
    if not pairs:
        return 0
    with db.transaction() as cur:
        added = len(
            suppression_store.insert(
                cur,
                [{"email_key": k, "reason": r} for k, r in pairs],
                added_by=user.email,
                source=source,
            )
        )
        reasons = sorted({r for _, r in pairs})
        after: dict[str, Any] = {"added": added, "source": source, **extra}
        after["reason" if len(reasons) == 1 else "reasons"] = (
            reasons[0] if len(reasons) == 1 else reasons[:20]
        )
        if len(pairs) <= AUDITED_EMAILS:
            after["emails"] = sorted({k for k, _ in pairs})
        audit.record(
            cur, actor=user.email, action="suppression.add", entity="suppression_list", after=after
        )
    return added


def add_suppressions(
    db: Database, user: access.User, emails: Iterable[str], reason: str = "manual", source="manual"
) -> int:
    """Suppress addresses (each must contain an @); returns how many were new. Audited."""
    access.require(user, "pipeline.rules")
    reason = _need_reason(reason)
    keys = sorted({email_key(e) for e in emails if e and "@" in e})
    return _add(db, user, [(k, reason) for k in keys], source, {})


def add_addresses(
    db: Database, user: access.User, emails: Iterable[str], reason: str | None
) -> dict[str, Any]:
    """Suppress addresses typed by someone, with the reason they give: which were added, which
    were on the list already, which are not addresses (left out)."""
    access.require(user, "pipeline.rules")
    reason = _need_reason(reason)
    keys = sorted({email_key(e) for e in emails if email_key(e)})
    invalid = [k for k in keys if not is_address(k)]
    good = [k for k in keys if k not in invalid]
    if not good:
        raise SuppressionError(
            "No email address to add" + (f": {', '.join(invalid[:5])} are not." if invalid else ".")
        )
    added = _add(db, user, [(k, reason) for k in good], "manual", {})
    return {"added": added, "already": len(good) - added, "invalid": invalid}


def remove_addresses(
    db: Database, user: access.User, emails: Iterable[str], reason: str | None
) -> dict[str, Any]:
    """Take addresses off the list, with the reason; audited (who, which, why)."""
    access.require(user, "pipeline.rules")
    reason = _need_reason(reason)
    keys = sorted({email_key(e) for e in emails if email_key(e)})
    if not keys:
        raise SuppressionError("No email address to remove.")
    with db.transaction() as cur:
        removed = [
            r[0]
            for r in cur.execute(
                "DELETE FROM suppression_list WHERE email_key IN (SELECT unnest(?))"
                " RETURNING email_key",
                [keys],
            ).fetchall()
        ]
        if removed:
            audit.record(
                cur,
                actor=user.email,
                action="suppression.remove",
                entity="suppression_list",
                after={
                    "removed": len(removed),
                    "reason": reason,
                    "emails": removed[:AUDITED_EMAILS],
                },
            )
    return {"removed": len(removed), "not_listed": [k for k in keys if k not in set(removed)]}


def import_file(
    db: Database,
    user: access.User,
    path: str | Path,
    *,
    reason: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Add every address of a file (its email column, or its first column) to the list, with the
    file's reason column where it has one, else `reason` (default unsubscribed). Returns the
    report: rows read, added, already listed, rejected with the first few rows and why."""
    access.require(user, "pipeline.rules")
    name = name or Path(path).name
    default = (reason or "").strip()[:200] or DEFAULT_FILE_REASON
    with import_files.readable(db, path, name) as text:
        info = import_files.inspect_text(db, text, name)
        col = detect_mapping(info.headers).get("email") or info.headers[0]
        reason_col = next((h for h in info.headers if h.lower() in REASON_HEADERS), None)
        why = f"nullif(trim({quote_ident(reason_col)}), '')" if reason_col else "NULL"
        try:
            with db.cursor() as cur:
                rows = cur.execute(
                    f"SELECT row_number() OVER () AS n, lower(trim({quote_ident(col)})) AS email,"
                    f" lower(left({why}, 200)) AS reason FROM {reader_sql(info)}"
                ).fetchall()
                malformed = _malformed(cur)
        except duckdb.InvalidInputException as exc:
            raise csv_problem(exc, name) from None
    rejected = [(line - 1, long_line_reason(line, size)) for line, size in info.long_lines]
    rejected += [(int(line) - 1, f"malformed line {line}: {msg}"[:200]) for line, msg in malformed]
    pairs = []
    for n, email, why_row in rows:
        n = row_in_file(n, info.long_lines) if info.long_lines else n
        if not email:
            rejected.append((n, "no address"))
        elif not is_address(email):
            rejected.append((n, f"'{email[:80]}' is not an email address"))
        else:
            pairs.append((email, why_row or default))
    if not pairs:
        raise ImportError_(
            f"{name} has no email addresses in its column '{col[:60]}'"
            + (f" ({len(rejected):,} rows that are not addresses)." if rejected else ".")
        )
    added = _add(db, user, pairs, "csv", {"file": name, "rejected": len(rejected)})
    rejected.sort()
    return {
        "rows_read": len(rows) + len(info.long_lines) + len(malformed),
        "added": added,
        "already": len({k for k, _ in pairs}) - added,
        "rejected": len(rejected),
        "rejected_rows": [{"row": r, "reason": why} for r, why in rejected[:SHOWN_REJECTS]],
        "encoding": info.encoding,
        "column": col,
    }


def _malformed(cur: Any) -> list[tuple[int, str]]:
    try:
        return cur.execute("SELECT line, error_message FROM reject_errors ORDER BY line").fetchall()
    except duckdb.Error:
        return []


def suppression_list(db: Database, limit: int | None = 1000) -> pl.DataFrame:
    sql = (
        "SELECT email_key AS email, reason, source, added_by, added_at FROM suppression_list"
        " ORDER BY added_at DESC, email_key"
    )
    return db.query(sql + " LIMIT ?", [limit]) if limit is not None else db.query(sql)


SUPPRESSION_SQL = (
    "SELECT email_key AS email, reason, source, added_by, added_at FROM suppression_list"
    " ORDER BY email_key"
)


def _search_where(text: str | None, reason: str | None, source: str | None) -> tuple[str, list]:
    where, params = ["true"], []
    if text and text.strip():
        where.append("(contains(email_key, ?) OR contains(lower(coalesce(detail, '')), ?))")
        params += [text.strip().lower()] * 2
    if reason:
        where.append("reason = ?")
        params.append(reason)
    if source:
        where.append("source = ?")
        params.append(source)
    return " AND ".join(where), params


SEARCH_COLUMNS = "email_key AS email, reason, source, detail, added_by, added_at"


def search(
    db: Database,
    text: str | None = None,
    *,
    reason: str | None = None,
    source: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[pl.DataFrame, int]:
    """One page of the list matching a part of an address (or of its detail), a reason and a
    source, newest first, and how many match in all."""
    where, params = _search_where(text, reason, source)
    total = int(db.scalar(f"SELECT count(*) FROM suppression_list WHERE {where}", params) or 0)
    page = db.query(
        f"SELECT {SEARCH_COLUMNS} FROM suppression_list WHERE {where}"
        " ORDER BY added_at DESC, email_key LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    return page, total


def search_sql(
    text: str | None = None, *, reason: str | None = None, source: str | None = None
) -> tuple[str, list]:
    """The query of everything `search` matches, for a streamed CSV."""
    where, params = _search_where(text, reason, source)
    return (
        f"SELECT {SEARCH_COLUMNS} FROM suppression_list WHERE {where} ORDER BY added_at DESC,"
        " email_key",
        params,
    )
