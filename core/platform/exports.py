"""CSV exports: one streaming, formula-injection-safe writer and the registry of exportable tables.

Every table a page offers for download is registered here by name, so `leadops export NAME` and
the page's download button produce the same file through the same code.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A trigger after a separator or a line break inside a cell: a spreadsheet that splits on `;`
# (semicolon locales), on tabs, or on a line break starts a new cell there, so `x;=HYPERLINK(…)`
# would open as a formula. Such a trigger gets a ' too (`x;'=HYPERLINK(…)`).
_INNER_TRIGGER = re.compile(r"([;,\t\r\n])([=+\-@])")


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text: a cell starting with = + - @ tab or CR gets a
    leading ', and so does every = + - @ that follows a ; , tab or line break inside the cell.
    Numbers (negative ones included) are left as numbers."""
    if value is None:
        return ""
    if isinstance(value, str):
        if _INNER_TRIGGER.search(value):
            value = _INNER_TRIGGER.sub(r"\1'\2", value)
        return "'" + value if value.startswith(DANGEROUS_PREFIXES) else value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return safe_cell(", ".join(str(v) for v in value))
    return value


def iter_csv(columns: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Yield the CSV text chunk by chunk (header first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; fields with CR or LF get quoted
    writer.writerow([safe_cell(c) for c in columns])
    n = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        n += 1
        if n % 2000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def frame_to_csv(df: pl.DataFrame) -> bytes:
    """A page's table as CSV bytes for a download button (same escaping as the streamed export)."""
    return "".join(iter_csv(df.columns, df.iter_rows())).encode("utf-8")


def stream_query(
    db: Database, sql: str, params: Any, out: IO[str], batch_rows: int = 50_000
) -> int:
    """Write a query's result to `out` in batches, never holding the whole result in memory."""
    with db.cursor() as cur:
        rel = cur.sql(sql, params=params)
        reader = rel.to_arrow_reader(batch_rows)
        columns = list(rel.columns)
        total = 0

        def rows() -> Iterator[tuple]:
            nonlocal total
            for batch in reader:
                cols = [c.to_pylist() for c in batch.columns]
                total += batch.num_rows
                yield from zip(*cols, strict=True)

        for chunk in iter_csv(columns, rows()):
            out.write(chunk)
    return total


@dataclass(frozen=True)
class Export:
    name: str
    description: str
    sql: Callable[[Scope], str]  # returns SQL with the scope's filter applied


EXPORTS: dict[str, Export] = {}


def register(name: str, description: str, sql: Callable[[Scope], str]) -> None:
    EXPORTS[name] = Export(name, description, sql)


register(
    "workspaces",
    "Client workspaces and their packages",
    lambda s: (
        "SELECT id, name, contact_email, array_to_string(licensed_states, ' ') AS licensed_states, tier,"
        " monthly_target, billing_type, price_per_lead_cents, retainer_cents, home_value_cap,"
        f" high_net_worth, bison_workspace_id, active, created_at FROM workspaces WHERE {s.filter('id')} ORDER BY name"
    ),
)
register(
    "contacts",
    "Every contact with its pipeline status",
    lambda s: (
        "SELECT c.id, w.name AS client, c.first_name, c.last_name, c.email, c.address, c.city, c.state, c.zip,"
        " c.cell_phone, c.purchase_date, c.home_value, c.head_of_household, c.renewal_month, c.campaign_month,"
        " c.status, c.reject_reason, c.verification_result, c.batch_id, c.source, c.imported_at"
        f" FROM contacts c JOIN workspaces w ON w.id = c.workspace_id WHERE {s.filter('c.workspace_id')} ORDER BY c.id"
    ),
)
register(
    "batches",
    "Renewal batches",
    lambda s: (
        "SELECT b.id, w.name AS client, b.name, b.campaign_month, b.window_start, b.window_end, b.status,"
        " b.contact_count, b.uploaded_at FROM batches b JOIN workspaces w ON w.id = b.workspace_id"
        f" WHERE {s.filter('b.workspace_id')} ORDER BY w.name, b.window_start"
    ),
)
register(
    "zip_assignments",
    "ZIP codes owned by each client",
    lambda s: (
        "SELECT a.zip, z.city, z.county, z.state, w.name AS client, a.assigned_at, a.assigned_by"
        " FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id LEFT JOIN us_zip_codes z USING (zip)"
        f" WHERE {s.filter('a.workspace_id')} ORDER BY w.name, a.zip"
    ),
)
register(
    "interested_leads",
    "Interested leads (the KPI), one row per lead",
    lambda s: (
        "SELECT w.name AS client, i.lead_key, l.email, l.first_name, l.last_name, i.interested_at, c.name AS campaign"
        " FROM interested_leads i JOIN workspaces w ON w.id = i.workspace_id"
        " LEFT JOIN bison_leads l ON l.workspace_id = i.workspace_id AND CAST(l.id AS VARCHAR) = i.lead_key"
        " LEFT JOIN bison_campaigns c ON c.workspace_id = i.workspace_id AND c.id = i.campaign_id"
        f" WHERE {s.filter('i.workspace_id')} ORDER BY i.interested_at DESC"
    ),
)
register(
    "campaign_daily",
    "Sent, replies and interested per campaign and day",
    lambda s: (
        "SELECT w.name AS client, c.name AS campaign, d.day, d.sent, d.opens, d.replies, d.interested, d.bounced,"
        " d.unsubscribed FROM bison_campaign_daily d JOIN workspaces w ON w.id = d.workspace_id"
        " JOIN bison_campaigns c ON c.workspace_id = d.workspace_id AND c.id = d.campaign_id"
        f" WHERE {s.filter('d.workspace_id')} ORDER BY d.day, w.name, c.name"
    ),
)
register(
    "audit_log",
    "Every change made through LeadOps",
    lambda s: (
        "SELECT occurred_at, actor, action, entity, entity_id, CAST(before AS VARCHAR) AS before,"
        " CAST(after AS VARCHAR) AS after FROM audit_log"
        + ("" if s.workspace_ids is None else " WHERE false")
        + " ORDER BY id DESC"
    ),
)


def export(db: Database, name: str, scope: Scope, out: IO[str]) -> int:
    if name not in EXPORTS:
        raise KeyError(f"No export named {name!r}. Known: {', '.join(sorted(EXPORTS))}.")
    return stream_query(db, EXPORTS[name].sql(scope), None, out)
