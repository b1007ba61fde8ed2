"""Bulk territory files: read, validate row by row, preview, apply as one change set, report rejects.

Two layouts are accepted, with a comma, semicolon, tab or pipe as the delimiter and an optional
UTF-8 byte-order mark:

* `zip,client` — one assignment per row (header names such as `zip_code` / `workspace` work too);
* the older master list — one column per client, the client's name as the header and its ZIP
  codes below it (columns may have different lengths).

Every row gets a status: `new`, `already` (the client owns it), `conflict` (another client owns
it, or the file gives it to two clients while territories are exclusive) or `rejected` (with the
reason: bad or unknown ZIP, unknown client, duplicate row). Good rows apply; the rest go to a
downloadable report that names the line and the reason.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import polars as pl

from core.accounts import access
from core.accounts.access import User
from core.platform import textfiles
from core.platform.exports import frame_to_csv
from core.platform.store import Database
from core.territories.assignments import (
    ChangeResult,
    TerritoryError,
    normalize_zip,
    shared_allowed,
    unassign,
    write_change_set,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_LINE_CHARS = 100_000  # longer than any row of ZIPs and clients; such a line is left out
ZIP_HEADERS = {
    "zip",
    "zipcode",
    "zip code",
    "zip_code",
    "postal code",
    "postal_code",
    "postalcode",
    "zip5",
}
CLIENT_HEADERS = {
    "client",
    "client name",
    "client_name",
    "workspace",
    "workspace name",
    "workspace_name",
    "agent",
    "owner",
}
ROW_SCHEMA = {
    "line": pl.Int64,
    "zip_raw": pl.String,
    "client_raw": pl.String,
    "zip": pl.String,
    "workspace_id": pl.Int32,
    "client": pl.String,
    "status": pl.String,
    "reason": pl.String,
}


def _norm_header(h: str) -> str:
    return re.sub(r"\s+", " ", h.replace("\ufeff", "").strip().strip('"').lower())


def decode(data: bytes) -> str:
    """The file as text, or TerritoryError saying why it is not a readable CSV."""
    return decode_with_encoding(data)[0]


def decode_with_encoding(data: bytes) -> tuple[str, str]:
    """The file as text and the encoding it was read as (chosen by core/platform/textfiles.py:
    UTF-8, UTF-16, Windows-1252 …; a stray non-UTF-8 byte does not garble the rest)."""
    if not data or not data.strip():
        raise TerritoryError("File: it is empty.")
    if len(data) > MAX_BYTES:
        raise TerritoryError(f"File: {len(data) / 1e6:.1f} MB is over the 20 MB limit; split it.")
    try:
        return textfiles.decode_bytes(data, "it")
    except textfiles.UnreadableFile as exc:
        raise TerritoryError(f"File: {exc}") from None


def read_table(text: str) -> tuple[list[tuple[int, list[str]]], list[tuple[int, int]]]:
    """Non-blank rows of a CSV text with their line numbers in the file, the delimiter detected
    (comma, semicolon, tab or pipe); and the lines too long to be a row, (line, characters),
    which are left out. A text that is not CSV at all raises TerritoryError."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    long_lines = [(i + 1, len(ln)) for i, ln in enumerate(lines) if len(ln) > MAX_LINE_CHARS]
    for n, _ in long_lines:
        lines[n - 1] = ""
    first = next((ln for ln in lines if ln.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""), delimiter=delim)
    out = []
    start = 1
    try:
        for row in reader:
            if any(c.strip() for c in row):
                out.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TerritoryError(
            f"File: line {start} is not valid CSV ({exc}); fix it and try again."
        ) from None
    return out, long_lines


def read_rows(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV text with their line numbers (lines too long to be a row left out)."""
    return read_table(text)[0]


@dataclass
class BulkCheck:
    layout: str
    shared: bool
    rows: pl.DataFrame
    notes: list[str] = field(default_factory=list)
    encoding: str = "utf-8"  # what the file was read as

    def count(self, status: str) -> int:
        return int((self.rows["status"] == status).sum()) if self.rows.height else 0

    @property
    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("new", "already", "conflict", "rejected")}

    def report(self, take_conflicts: bool = False) -> pl.DataFrame:
        """The rows that will not be applied, with why."""
        keep = ["rejected"] + ([] if (self.shared or take_conflicts) else ["conflict"])
        return self.rows.filter(pl.col("status").is_in(keep)).select(
            "line",
            pl.col("zip_raw").alias("zip"),
            pl.col("client_raw").alias("client"),
            "status",
            "reason",
        )

    def report_csv(self, take_conflicts: bool = False) -> bytes:
        return frame_to_csv(self.report(take_conflicts))


def _clients(db: Database) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for wid, name in db.rows("SELECT id, name FROM workspaces ORDER BY id"):
        out[name.strip().lower()] = (wid, name)
        out[str(wid)] = (wid, name)
    return out


def _pairs(
    numbered: list[tuple[int, list[str]]],
) -> tuple[str, list[tuple[int, str, str]], list[str]]:
    rows = [r for _, r in numbered]
    lines = [n for n, _ in numbered]
    header = [_norm_header(h) for h in rows[0]]
    for i, h in enumerate(header):
        if h and header.index(h) != i:
            raise TerritoryError(
                f"Header: the column '{rows[0][i].strip()}' appears twice (columns {header.index(h) + 1}"
                f" and {i + 1}); keep one."
            )
    zip_cols = [i for i, h in enumerate(header) if h in ZIP_HEADERS]
    client_cols = [i for i, h in enumerate(header) if h in CLIENT_HEADERS]
    if zip_cols and client_cols:
        zc, cc = zip_cols[0], client_cols[0]
        out = []
        for n, row in zip(lines[1:], rows[1:], strict=True):
            out.append(
                (
                    n,
                    row[zc].strip() if zc < len(row) else "",
                    row[cc].strip() if cc < len(row) else "",
                )
            )
        return "zip,client", out, []
    if zip_cols:
        raise TerritoryError(
            "Header: there is a ZIP column but no client column; name it 'client' (or use one column per client)."
        )
    # master list: one column per client
    names = [h.strip() for h in rows[0]]
    if not any(names):
        raise TerritoryError("Header: the first row is empty; it must name the columns.")
    notes = []
    out = []
    for col, name in enumerate(names):
        if not name:
            if any(col < len(r) and r[col].strip() for r in rows[1:]):
                notes.append(
                    f"Column {col + 1} has ZIPs but no client name in its header; it was left out."
                )
            continue
        for n, row in zip(lines[1:], rows[1:], strict=True):
            cell = row[col].strip() if col < len(row) else ""
            if cell:
                out.append((n, cell, name))
    return "master list", out, notes


def check_file(db: Database, data: bytes) -> BulkCheck:
    """Read and validate an assignment file against the database; nothing is written."""
    text, encoding = decode_with_encoding(data)
    rows, long_lines = read_table(text)
    if long_lines and (not rows or long_lines[0][0] < rows[0][0]):
        raise TerritoryError(
            f"Header: line {long_lines[0][0]} is {long_lines[0][1]:,} characters long;"
            " the first line must name the columns."
        )
    if not rows:
        raise TerritoryError("File: it has no rows.")
    if len(rows) == 1 and not long_lines:
        raise TerritoryError("File: it has a header but no rows below it.")
    layout, items, notes = _pairs(rows)
    if not items and not long_lines:
        raise TerritoryError("File: no ZIP codes found under the header.")
    clients = _clients(db)
    known = {
        r[0]
        for r in db.rows(
            "SELECT zip FROM us_zip_codes WHERE zip IN (SELECT unnest(?))",
            [list({normalize_zip(z) for _, z, _ in items if normalize_zip(z)})],
        )
    }
    shared = shared_allowed(db)
    out = []
    seen: dict[tuple[str, int], int] = {}
    first_owner: dict[str, tuple[int, str, int]] = {}
    for line, zraw, craw in items:
        z = normalize_zip(zraw)
        client = clients.get(craw.strip().lower())
        rec = {
            "line": line,
            "zip_raw": zraw,
            "client_raw": craw,
            "zip": z,
            "workspace_id": None,
            "client": None,
            "status": "rejected",
            "reason": None,
        }
        if client:
            rec["workspace_id"], rec["client"] = client
        if not zraw:
            rec["reason"] = f"Line {line}: the ZIP is empty."
        elif z is None:
            rec["reason"] = f"Line {line}: '{zraw[:40]}' is not a 5-digit ZIP code."
        elif z not in known:
            rec["reason"] = f"Line {line}: ZIP {z} is not a US ZIP code."
        elif not craw:
            rec["reason"] = f"Line {line}: the client is empty."
        elif client is None:
            rec["reason"] = (
                f"Line {line}: no client named '{craw[:60]}' (add it under Settings first)."
            )
        elif (z, client[0]) in seen:
            rec["reason"] = f"Line {line}: duplicate of line {seen[(z, client[0])]}."
        elif not shared and z in first_owner and first_owner[z][0] != client[0]:
            other = first_owner[z]
            rec["status"] = "rejected"
            rec["reason"] = (
                f"Line {line}: ZIP {z} is also given to {other[1]} on line {other[2]}; territories are exclusive."
            )
        else:
            rec["status"] = "ok"
            seen[(z, client[0])] = line
            first_owner.setdefault(z, (client[0], client[1], line))
        out.append(rec)
    for line, size in long_lines:
        out.append(
            {
                "line": line,
                "zip_raw": "",
                "client_raw": "",
                "zip": None,
                "workspace_id": None,
                "client": None,
                "status": "rejected",
                "reason": f"Line {line}: {size:,} characters long, not a row of ZIPs; left out.",
            }
        )
    frame = pl.DataFrame(out, schema=ROW_SCHEMA)
    frame = _against_database(db, frame)
    return BulkCheck(layout, shared, frame, notes, encoding)


def _against_database(db: Database, frame: pl.DataFrame) -> pl.DataFrame:
    ok = frame.filter(pl.col("status") == "ok").select("line", "zip", "workspace_id")
    with db.cursor() as cur:
        cur.register("_bulk_ok", ok.to_arrow())
        st = cur.sql(
            """
            SELECT o.line,
                   CASE WHEN bool_or(a.workspace_id = o.workspace_id) THEN 'already'
                        WHEN count(a.workspace_id) > 0 THEN 'conflict' ELSE 'new' END AS db_status,
                   string_agg(w.name, ', ' ORDER BY w.name) FILTER (WHERE a.workspace_id <> o.workspace_id) AS owners
            FROM _bulk_ok o
            LEFT JOIN zip_assignments a ON a.zip = o.zip
            LEFT JOIN workspaces w ON w.id = a.workspace_id
            GROUP BY o.line
            """
        ).pl()
        cur.unregister("_bulk_ok")
    frame = frame.join(st, on="line", how="left")
    return (
        frame.with_columns(
            status=pl.when(pl.col("status") == "ok")
            .then(pl.col("db_status"))
            .otherwise(pl.col("status")),
            reason=pl.when((pl.col("status") == "ok") & (pl.col("db_status") == "conflict"))
            .then(pl.format("Line {}: ZIP {} is owned by {}.", "line", "zip", "owners"))
            .when((pl.col("status") == "ok") & (pl.col("db_status") == "already"))
            .then(pl.format("Line {}: {} already owns {}.", "line", "client", "zip"))
            .otherwise(pl.col("reason")),
        )
        .drop("db_status", "owners")
        .sort("line")
    )


def apply_file(
    db: Database, user: User, check: BulkCheck, *, take_conflicts: bool = False, name: str = "file"
) -> ChangeResult:
    """Apply a checked file as one change set: new rows, plus conflicts when ZIPs may be shared
    (added beside the owner) or `take_conflicts` (moved from the owner)."""
    access.require(user, "territory.manage")
    if user.scope.workspace_ids is not None:
        raise access.PermissionDenied(
            "Bulk files may change any client; your role is limited to one."
        )
    rows = check.rows
    statuses = ["new"] + (["conflict"] if (check.shared or take_conflicts) else [])
    adds = rows.filter(pl.col("status").is_in(statuses)).select("zip", "workspace_id")
    shared = shared_allowed(db)
    with db.transaction() as cur:
        removes = pl.DataFrame(schema={"zip": pl.String, "workspace_id": pl.Int32})
        if take_conflicts and not shared:
            cur.register("_bulk_adds", adds.to_arrow())
            removes = cur.sql(
                "SELECT a.zip, a.workspace_id FROM zip_assignments a JOIN _bulk_adds n ON n.zip = a.zip"
                " WHERE a.workspace_id <> n.workspace_id"
            ).pl()
            cur.unregister("_bulk_adds")
        summary = f"Import {adds.height:,} assignment(s) from {name}" + (
            f", {removes.height:,} taken from other clients" if removes.height else ""
        )
        cid = write_change_set(
            cur,
            user,
            kind="import",
            workspace_id=None,
            summary=summary,
            adds=adds,
            removes=removes,
            details={"file": name, "layout": check.layout, "counts": check.counts},
        )
    skipped = {k: v for k, v in check.counts.items() if k != "new"}
    return ChangeResult(cid, adds.height if cid else 0, removes.height, skipped, summary)


def zips_in_file(data: bytes) -> tuple[list[str], list[str]]:
    """ZIP codes listed in an uploaded file (its ZIP column when it has one, else every cell);
    returns (unique ZIPs, cells that are not ZIP codes)."""
    numbered, long_lines = read_table(decode(data))
    rows = [r for _, r in numbered]
    header = [_norm_header(h) for h in rows[0]] if rows else []
    zip_cols = [i for i, h in enumerate(header) if h in ZIP_HEADERS]
    if zip_cols:
        cells = [r[zip_cols[0]] for r in rows[1:] if zip_cols[0] < len(r)]
    else:
        cells = [c for r in rows for c in r]
    zips: list[str] = []
    bad: list[str] = [f"line {n} ({size:,} characters)" for n, size in long_lines]
    seen: set[str] = set()
    for c in cells:
        if not c.strip():
            continue
        z = normalize_zip(c)
        if z is None:
            bad.append(c.strip()[:40])
        elif z not in seen:
            seen.add(z)
            zips.append(z)
    return zips, bad


def delete_listed(
    db: Database, user: User, data: bytes, *, workspace_id: int | None = None, name: str = "file"
) -> tuple[ChangeResult, list[str]]:
    """Bulk delete the ZIPs listed in a file, from one client or from every owner."""
    zips, bad = zips_in_file(data)
    if not zips:
        raise TerritoryError("File: no ZIP codes found in it.")
    result = unassign(
        db, user, zips, workspace_id=workspace_id, kind="delete", note=f"listed in {name}"
    )
    return result, bad
