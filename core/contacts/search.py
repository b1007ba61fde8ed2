"""Find contacts across clients: by email, name, phone, ZIP, client, status, renewal month and
batch, within the caller's scope; one page at a time with the total, or everything as CSV.

Every value reaches SQL as a parameter; the scope's ids are validated ints (core/platform/scope).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import polars as pl

from core.platform import exports
from core.platform.scope import Scope
from core.platform.store import Database

PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
STATUSES = (
    "raw",
    "filtered",
    "rejected",
    "verifying",
    "verified",
    "invalid",
    "batched",
    "uploaded",
)

_AFTER_CLIENT = (
    "c.email, c.first_name, c.last_name, c.cell_phone AS phone, c.zip, c.city, c.state, c.status,"
    " c.reject_reason, c.renewal_month, c.batch_id, c.bison_lead_id, c.source, c.imported_at"
)
COLUMNS = f"c.id, w.name AS client, {_AFTER_CLIENT}"
_PAGE_COLUMNS = f"c.id, c.workspace_id, {_AFTER_CLIENT}"  # the client's name is added after
SCHEMA = {
    "id": pl.Int64,
    "client": pl.String,
    "email": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "phone": pl.String,
    "zip": pl.String,
    "city": pl.String,
    "state": pl.String,
    "status": pl.String,
    "reject_reason": pl.String,
    "renewal_month": pl.Date,
    "batch_id": pl.Int64,
    "bison_lead_id": pl.Int64,
    "source": pl.String,
    "imported_at": pl.Datetime("us", "UTC"),
}


class SearchError(ValueError):
    """A filter that cannot be used as given; says which and why."""


@dataclass(frozen=True)
class ContactFilter:
    email: str | None = None  # part of the address, any case
    name: str | None = None  # words each found in the first or the last name
    phone: str | None = None  # digits of the number, any punctuation
    zip: str | None = None  # five digits, or the first digits of a ZIP
    workspace_id: int | None = None
    status: str | None = None
    renewal_month: dt.date | None = None
    batch_id: int | None = None

    @property
    def scans_text(self) -> bool:
        """A filter on the address or the phone number: it must read every row's text (names
        repeat, so their filter reads each distinct name once and is cheap)."""
        return any(v and v.strip() for v in (self.email, self.phone))

    def where(self, scope: Scope) -> tuple[str, list[Any]]:
        """The SQL condition (on contacts `c`) and its parameters."""
        where, params = [scope.filter("c.workspace_id")], []
        if self.email and self.email.strip():  # addresses are stored lower-cased and trimmed
            where.append("contains(c.email, ?)")
            params.append(self.email.strip().lower())
        for word in (self.name or "").lower().split()[:4]:  # every word, in either name
            where.append("(contains(lower(c.first_name), ?) OR contains(lower(c.last_name), ?))")
            params += [word, word]
        if self.phone and self.phone.strip():
            digits = re.sub(r"\D", "", self.phone)
            if len(digits) < 3:
                raise SearchError("Phone: give at least 3 digits of the number.")
            # The LIKE (digits in order, anything between) is cheap and narrows the rows the
            # exact check — the number's digits contain these digits — has to look at.
            where.append(
                "c.cell_phone LIKE ? AND"
                " contains(regexp_replace(c.cell_phone, '[^0-9]', '', 'g'), ?)"
            )
            params += ["%" + "%".join(digits) + "%", digits]
        if self.zip and self.zip.strip():
            z = self.zip.strip()
            if not re.fullmatch(r"\d{1,5}", z):
                raise SearchError(f"ZIP: '{z[:20]}' is not a ZIP code (up to five digits).")
            if len(z) == 5:
                where.append("c.zip = ?")
            else:
                where.append("starts_with(c.zip, ?)")
            params.append(z)
        if self.workspace_id is not None:
            where.append("c.workspace_id = ?")
            params.append(int(self.workspace_id))
        if self.status:
            if self.status not in STATUSES:
                raise SearchError(
                    f"Status: '{self.status[:20]}' is not one of {', '.join(STATUSES)}."
                )
            where.append("c.status = ?")
            params.append(self.status)
        if self.renewal_month is not None:
            where.append("c.renewal_month = ?")
            params.append(self.renewal_month.replace(day=1))
        if self.batch_id is not None:
            where.append("c.batch_id = ?")
            params.append(int(self.batch_id))
        return " AND ".join(where), params


def parse_month(text: str | None) -> dt.date | None:
    """'2027-03' (or a date in that month) as its first day; None for nothing."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:7] + "-01")
    except ValueError:
        raise SearchError(f"Renewal month: '{text[:20]}' is not a month (YYYY-MM).") from None


def count(db: Database, scope: Scope, f: ContactFilter) -> int:
    where, params = f.where(scope)
    return int(db.scalar(f"SELECT count(*) FROM contacts c WHERE {where}", params) or 0)


def _page_sql(inner: str) -> str:
    """The rows `inner` selects (from contacts `c`, with `_PAGE_COLUMNS`) with their client's
    name, newest first, as one list value: a page comes back with whatever else the statement
    returns, as plain rows (cheaper here than a result set turned into a data frame)."""
    return (
        "(SELECT list(p ORDER BY p.id DESC) FROM (SELECT p.* EXCLUDE (workspace_id),"
        f" w.name AS client FROM ({inner}) p LEFT JOIN workspaces w ON w.id = p.workspace_id) p)"
    )


def _frame(rows: list[dict[str, Any]] | None) -> pl.DataFrame:
    return pl.DataFrame(rows or [], schema=SCHEMA)


def page(
    db: Database, scope: Scope, f: ContactFilter, *, limit: int = PAGE_SIZE, offset: int = 0
) -> pl.DataFrame:
    """One page of matches, newest first (by id)."""
    return search(db, scope, f, limit=limit, offset=offset)[0]


def search(
    db: Database, scope: Scope, f: ContactFilter, *, limit: int = PAGE_SIZE, offset: int = 0
) -> tuple[pl.DataFrame, int]:
    """One page of matches (newest first) and how many match in all.

    Most filters are cheap to run twice, so the count and the page come back from one
    statement. A filter on the address or the phone must read every row's text, so it is
    evaluated once: its ids give the count and the page's ids, whose rows are then read by id.
    """
    if not 1 <= int(limit) <= MAX_PAGE_SIZE:
        raise SearchError(f"Page size: between 1 and {MAX_PAGE_SIZE}.")
    if int(offset) < 0:
        raise SearchError("Page: must be 1 or more.")
    where, params = f.where(scope)
    if not f.scans_text:
        top = f"SELECT {_PAGE_COLUMNS} FROM contacts c WHERE {where} ORDER BY c.id DESC LIMIT ? OFFSET ?"
        total, rows = db.rows(
            f"SELECT (SELECT count(*) FROM contacts c WHERE {where}), {_page_sql(top)}",
            [*params, *params, int(limit), int(offset)],
        )[0]
        return _frame(rows), int(total)
    total, ids = db.rows(
        f"WITH m AS MATERIALIZED (SELECT c.id FROM contacts c WHERE {where})"
        " SELECT (SELECT count(*) FROM m),"
        " (SELECT list(id) FROM (SELECT id FROM m ORDER BY id DESC LIMIT ? OFFSET ?))",
        [*params, int(limit), int(offset)],
    )[0]
    ids = [int(i) for i in ids or []]  # ints from the store: safe to inline, and the scan then
    if not ids:  # skips every block outside their range
        return _frame([]), int(total)
    by_id = (
        f"SELECT {_PAGE_COLUMNS} FROM contacts c WHERE c.id BETWEEN {min(ids)} AND {max(ids)}"
        f" AND c.id IN ({', '.join(map(str, ids))})"
    )
    return _frame(db.scalar(f"SELECT {_page_sql(by_id)}")), int(total)


def export_sql(scope: Scope, f: ContactFilter) -> tuple[str, list[Any]]:
    """Every match (same columns as a page), oldest first, for a streamed CSV."""
    where, params = f.where(scope)
    return (
        f"SELECT {COLUMNS} FROM contacts c JOIN workspaces w ON w.id = c.workspace_id"
        f" WHERE {where} ORDER BY c.id",
        params,
    )


def write_csv(db: Database, scope: Scope, f: ContactFilter, out: IO[str]) -> int:
    """Stream every match to `out` as CSV (the shared formula-safe writer); returns the rows."""
    sql, params = export_sql(scope, f)
    return exports.stream_query(db, sql, params, out)


def csv_file(db: Database, sql: str, params: list[Any]) -> IO[bytes]:
    """A query's rows streamed as CSV into a temporary file (in memory while small, on disk past
    16 MB), rewound, for a page's download button."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20, mode="w+b")  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    exports.stream_query(db, sql, params, text)
    text.flush()
    text.detach()
    spool.seek(0)
    return spool
