"""File import of contacts (CSV and Excel): column auto-detection, preview, and a set-based import.

The file is read by DuckDB's `read_csv` straight into a staging table, checked with SQL and copied
into `contacts`, so a file of a million rows never sits in Python memory. Every row that cannot be
imported goes to `import_rejects` with its row number and reason; good rows are never blocked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from core.pipeline import import_files
from core.pipeline.import_files import (
    FileInfo,
    ImportError_,
    csv_problem,
    long_line_reason,
    shown,
)
from core.pipeline.import_files import reader_sql as _reader
from core.platform import audit, textfiles
from core.platform.store import Database, quote_ident

# Our field -> header spellings seen in homeowner-list exports (normalised: lower-case letters and
# digits only). Covers generic files and the layouts of Cole X Dates and Xpressdocs exports.
FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "email1", "primaryemail", "emailaddr", "contactemail"),
    "first_name": ("firstname", "first", "fname", "ownerfirstname", "owner1firstname", "givenname"),
    "last_name": ("lastname", "last", "lname", "ownerlastname", "owner1lastname", "surname"),
    "address": (
        "address",
        "streetaddress",
        "address1",
        "propertyaddress",
        "mailingaddress",
        "street",
        "siteaddress",
        "fulladdress",
    ),
    "city": ("city", "propertycity", "mailingcity", "sitecity", "town"),
    "state": ("state", "st", "propertystate", "mailingstate", "sitestate", "statecode"),
    "zip": (
        "zip",
        "zipcode",
        "zip5",
        "postalcode",
        "postcode",
        "propertyzip",
        "mailingzip",
        "sitezip",
    ),
    "cell_phone": (
        "cellphone",
        "cell",
        "mobile",
        "mobilephone",
        "wirelessphone",
        "phone",
        "phone1",
    ),
    "purchase_date": (
        "purchasedate",
        "saledate",
        "lastsaledate",
        "recordingdate",
        "closingdate",
        "dateofpurchase",
        "homepurchasedate",
    ),
    "home_value": (
        "homevalue",
        "estimatedhomevalue",
        "esthomevalue",
        "estvalue",
        "estimatedmarketvalue",
        "avm",
        "marketvalue",
        "estimatedvalue",
        "propertyvalue",
        "assessedvalue",
        "saleprice",
        "purchaseprice",
    ),
    "head_of_household": ("headofhousehold", "hoh", "headofhouse", "householdhead"),
    "income": ("income", "householdincome", "estimatedincome", "estimatedhouseholdincome"),
    "date_of_birth": ("dateofbirth", "dob", "birthdate", "birthday"),
}
REQUIRED = ("email",)
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y%m%d", "%m-%d-%Y", "%Y/%m/%d")
EMAIL_RE = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"


ContactImportError = ImportError_


def _norm(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def detect_mapping(headers: list[str]) -> dict[str, str]:
    """Our field -> the file's header, for every field whose header we recognise."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(_norm(h), h)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for fld, aliases in FIELDS.items():
        for alias in aliases:
            h = by_norm.get(alias)
            if h is not None and h not in used:
                mapping[fld] = h
                used.add(h)
                break
    return mapping


def _inspect(db: Database, text: textfiles.TextFile, name: str, preview_rows: int) -> FileInfo:
    info = import_files.inspect_text(db, text, name, preview_rows)
    info.mapping = detect_mapping(info.headers)
    return info


def inspect_file(
    db: Database, path: str | Path, preview_rows: int = 10, name: str | None = None
) -> FileInfo:
    """Encoding, delimiter, headers, the detected mapping and the first rows. Files made on the
    way (a converted workbook, a re-encoded copy) are deleted before it returns."""
    name = name or Path(path).name
    with import_files.readable(db, path, name) as text:
        info = _inspect(db, text, name, preview_rows)
    info.path = Path(path)
    return info


def _col(mapping: dict[str, str], fld: str) -> str:
    h = mapping.get(fld)
    return f"nullif(trim({quote_ident(h)}), '')" if h else "NULL::VARCHAR"


def _date_expr(e: str, formats: tuple[str, ...] = DATE_FORMATS) -> str:
    """First format that parses wins. COALESCE stops at the first hit, and a failed parse costs ten
    times a good one, so the file's own format should come first (see `_date_formats`)."""
    tries = ", ".join(f"try_strptime({e}, '{f}')" for f in formats)
    return f"CAST(coalesce({tries}) AS DATE)"


def _date_formats(cur, info: FileInfo, header: str | None, sample: int = 2000) -> tuple[str, ...]:
    """DATE_FORMATS ordered by how many of the column's first non-empty values each one parses."""
    if not header:
        return DATE_FORMATS
    col = quote_ident(header)
    counts = ", ".join(f"count(try_strptime(v, '{f}'))" for f in DATE_FORMATS)
    hits = cur.sql(
        f"SELECT {counts} FROM (SELECT nullif(trim({col}), '') AS v FROM {_reader(info)}"
        f" WHERE v IS NOT NULL LIMIT {int(sample)})"
    ).fetchall()[0]
    order = sorted(range(len(DATE_FORMATS)), key=lambda i: -hits[i])
    return tuple(DATE_FORMATS[i] for i in order)


def _money_expr(e: str) -> str:
    return f"TRY_CAST(TRY_CAST(regexp_replace({e}, '[$,\\s]', '', 'g') AS DOUBLE) AS BIGINT)"


def _staging_sql(
    info: FileInfo,
    mapping: dict[str, str],
    table: str,
    territory: bool,
    date_formats: dict[str, tuple[str, ...]] | None = None,
) -> str:
    """One pass over the file: typed values, the first reason a row cannot be imported, and the
    contact id each good row will get (drawn here, in bulk: a sequence default evaluated row by row
    during the insert costs more than the rest of the insert)."""
    c = {f: _col(mapping, f) for f in FIELDS}
    fmts = date_formats or {}
    zip_digits = f"regexp_extract({c['zip']}, '^\\s*(\\d{{3,5}})', 1)"
    zip_check = (
        "WHEN zip NOT IN (SELECT zip FROM zip_assignments WHERE workspace_id = $wid)"
        " THEN 'ZIP ' || zip || ' is not in the client''s territory'"
        if territory
        else ""
    )
    return f"""
        CREATE TEMP TABLE {table} AS
        WITH s AS (
            SELECT row_number() OVER () AS row_number,
                   {c["email"]} AS email_raw,
                   {c["first_name"]} AS first_name, {c["last_name"]} AS last_name,
                   {c["address"]} AS address, {c["city"]} AS city,
                   upper({c["state"]}) AS state,
                   {c["zip"]} AS zip_raw,
                   CASE WHEN {zip_digits} <> '' THEN lpad({zip_digits}, 5, '0') END AS zip,
                   {c["cell_phone"]} AS cell_phone,
                   {c["purchase_date"]} AS purchase_date_raw,
                   {_date_expr(c["purchase_date"], fmts.get("purchase_date", DATE_FORMATS))} AS purchase_date,
                   {c["home_value"]} AS home_value_raw,
                   {_money_expr(c["home_value"])} AS home_value,
                   CASE WHEN lower({c["head_of_household"]}) IN ('y', 'yes', 'true', '1', 't', 'x', 'h')
                        THEN true
                        WHEN lower({c["head_of_household"]}) IN ('n', 'no', 'false', '0', 'f') THEN false
                   END AS head_of_household,
                   {_money_expr(c["income"])} AS income,
                   {_date_expr(c["date_of_birth"], fmts.get("date_of_birth", DATE_FORMATS))} AS date_of_birth
            FROM {_reader(info)}),
        t AS (
            SELECT *, CASE WHEN email_raw IS NULL THEN 'missing required field: email'
                        WHEN NOT regexp_full_match(email_raw, $re)
                             THEN 'bad email ''' || left(email_raw, 80) || ''''
                        WHEN zip IS NULL AND zip_raw IS NULL THEN 'missing required field: zip'
                        WHEN zip IS NULL THEN 'bad ZIP ''' || left(zip_raw, 20) || ''''
                        {zip_check}
                        WHEN purchase_date_raw IS NOT NULL AND purchase_date IS NULL
                             THEN 'bad purchase date ''' || left(purchase_date_raw, 20) || ''''
                        WHEN home_value_raw IS NOT NULL AND home_value IS NULL
                             THEN 'bad home value ''' || left(home_value_raw, 20) || ''''
                   END AS reason
            FROM s)
        SELECT t.row_number,
               CASE WHEN t.reason IS NULL THEN nextval('contacts_id_seq') END AS contact_id,
               lower(t.email_raw) AS email,
               CASE WHEN t.reason IS NOT NULL THEN t.email_raw END AS email_raw,
               CASE WHEN t.reason IS NOT NULL THEN t.zip_raw END AS zip_raw,
               t.first_name, t.last_name, t.address, t.city, t.state, t.zip, t.cell_phone,
               t.purchase_date, t.home_value, t.head_of_household, t.income, t.date_of_birth,
               t.reason
        FROM t
    """


def import_file(
    db: Database,
    workspace_id: int,
    path: str | Path,
    *,
    actor: str,
    mapping: dict[str, str] | None = None,
    filename: str | None = None,
    source: str = "file",
    renewal_month: dt.date | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Import a CSV/Excel file of contacts for one client; returns the import report. A file
    that cannot be read at all raises ImportError_ (one sentence) and writes no contact."""
    step = progress or (lambda *_: None)
    if not db.scalar("SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]):
        raise ImportError_(f"No client with id {workspace_id}.")
    name = filename or Path(path).name
    step("reading", 0, None)
    with import_files.readable(db, path, name) as text:
        info = _inspect(db, text, name, 0)
        return _import_read_file(
            db, workspace_id, info, name, actor, mapping, source, renewal_month, step
        )


def _import_read_file(
    db: Database,
    workspace_id: int,
    info: FileInfo,
    filename: str,
    actor: str,
    mapping: dict[str, str] | None,
    source: str,
    renewal_month: dt.date | None,
    step: Callable[[str, int, int | None], None],
) -> dict[str, Any]:
    started = time.monotonic()
    mapping = dict(mapping or info.mapping)
    unknown = [h for h in mapping.values() if h not in info.headers]
    if unknown:
        raise ImportError_(
            f"Mapped column(s) {shown(unknown)} are not in the file; its columns are "
            f"{shown(info.headers)}."
        )
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ImportError_(
            f"No email column found. The file's columns are: {shown(info.headers)}. "
            "Map one of them to 'email'."
        )
    stage = f"import_stage_{uuid.uuid4().hex[:8]}"
    with db.cursor() as cur:
        import_id = cur.execute(
            "INSERT INTO import_reports (workspace_id, source, filename, mapping, requested_by)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            [workspace_id, source, filename, json.dumps(mapping), actor],
        ).fetchall()[0][0]
    try:
        report = _run_import(
            db,
            cur_info=info,
            mapping=mapping,
            stage=stage,
            wid=workspace_id,
            import_id=import_id,
            source=source,
            renewal_month=renewal_month,
            step=step,
        )
    except Exception as exc:
        problem = (
            csv_problem(exc, filename) if isinstance(exc, duckdb.InvalidInputException) else exc
        )
        with db.cursor() as cur:
            cur.execute(
                "UPDATE import_reports SET status = 'failed', error = ?, finished_at = now(),"
                " seconds = ? WHERE id = ?",
                [str(problem)[:500], round(time.monotonic() - started, 3), import_id],
            )
        if problem is exc:
            raise
        raise problem from None
    seconds = round(time.monotonic() - started, 3)
    with db.transaction() as cur:
        cur.execute(
            "UPDATE import_reports SET rows_read = ?, imported = ?, duplicates = ?, rejected = ?,"
            " status = 'succeeded', finished_at = now(), seconds = ? WHERE id = ?",
            [
                report["rows_read"],
                report["imported"],
                report["duplicates"],
                report["rejected"],
                seconds,
                import_id,
            ],
        )
        audit.record(
            cur,
            actor=actor,
            action="contacts.import",
            entity="workspace",
            entity_id=workspace_id,
            after={**report, "filename": filename, "encoding": info.encoding},
        )
    return {
        **report,
        "import_id": import_id,
        "seconds": seconds,
        "mapping": mapping,
        "encoding": info.encoding,
        "delimiter": info.delimiter,
    }


def _run_import(
    db: Database,
    *,
    cur_info: FileInfo,
    mapping: dict[str, str],
    stage: str,
    wid: int,
    import_id: int,
    source: str,
    renewal_month: dt.date | None,
    step: Callable[[str, int, int | None], None],
) -> dict[str, int]:
    info = cur_info
    with db.cursor() as cur:
        territory = cur.execute(
            "SELECT count(*) FROM zip_assignments WHERE workspace_id = ?", [wid]
        ).fetchall()[0][0]
        params = {"re": EMAIL_RE, "wid": wid} if territory else {"re": EMAIL_RE}
        formats = {
            f: _date_formats(cur, info, mapping.get(f)) for f in ("purchase_date", "date_of_birth")
        }
        cur.execute(_staging_sql(info, mapping, stage, bool(territory), formats), params)
        if info.long_lines:  # rows after a line left out keep their number in the file
            cut = [line - 1 - i for i, (line, _) in enumerate(sorted(info.long_lines))]
            cur.execute(
                f"UPDATE {stage} SET row_number = row_number"
                " + (SELECT count(*) FROM unnest($cut::BIGINT[]) AS d(t) WHERE d.t <= row_number)",
                {"cut": cut},
            )
        # Addresses that repeat in the file or that the client already has: where each first appears.
        cur.execute(
            f"""CREATE TEMP TABLE {stage}_first AS
                SELECT f.email, f.first_row, e.k IS NOT NULL AS existing
                FROM (SELECT email, min(row_number) AS first_row, count(*) AS n FROM {stage}
                      GROUP BY email) f
                LEFT JOIN (SELECT DISTINCT lower(email) AS k FROM contacts
                           WHERE workspace_id = $wid) e ON e.k = f.email
                WHERE f.n > 1 OR e.k IS NOT NULL""",
            {"wid": wid},
        )
        malformed = (
            cur.sql(
                "SELECT line, error_type, error_message, csv_line FROM reject_errors ORDER BY line"
            ).fetchall()
            if _has_rejects(cur)
            else []
        )
        step("saving", 0, None)
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                f"""
                INSERT INTO import_rejects (import_id, row_number, reason, email, zip)
                SELECT $imp, row_number,
                       coalesce(reason,
                                CASE WHEN row_number > first_row
                                     THEN 'duplicate email in the file (first at row ' || first_row || ')'
                                     ELSE 'duplicate: already a contact of this client' END),
                       coalesce(email_raw, s.email), zip_raw
                FROM {stage} s LEFT JOIN {stage}_first f ON f.email IS NOT DISTINCT FROM s.email
                WHERE reason IS NOT NULL OR row_number > first_row OR coalesce(existing, false)
                """,
                {"imp": import_id},
            )
            for line, size in info.long_lines:
                cur.execute(
                    "INSERT INTO import_rejects (import_id, row_number, reason) VALUES (?, ?, ?)",
                    [import_id, line - 1, long_line_reason(line, size)],
                )
            for line, etype, message, raw in malformed:
                cur.execute(
                    "INSERT INTO import_rejects (import_id, row_number, reason, raw)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        import_id,
                        int(line) - 1,
                        f"malformed line {line} ({str(etype).lower()}): {message}"[:300],
                        (raw or "")[:500],
                    ],
                )
            cur.execute(
                f"""
                INSERT INTO contacts (id, workspace_id, first_name, last_name, email, address, city,
                    state, zip, cell_phone, purchase_date, home_value, head_of_household, income,
                    date_of_birth, renewal_month, status, source, import_id, import_row)
                SELECT k.contact_id, $wid, k.first_name, k.last_name, k.email, k.address,
                       coalesce(k.city, z.city), coalesce(k.state, z.state), k.zip, k.cell_phone,
                       k.purchase_date, k.home_value, k.head_of_household, k.income,
                       k.date_of_birth,
                       CASE WHEN purchase_date IS NULL THEN $month::DATE END, 'raw', $src, $imp,
                       k.row_number
                FROM {stage} k LEFT JOIN {stage}_first f ON f.email = k.email
                LEFT JOIN us_zip_codes z ON z.zip = k.zip
                WHERE k.reason IS NULL
                  AND (f.email IS NULL OR (k.row_number = f.first_row AND NOT f.existing))
                """,
                {"wid": wid, "month": renewal_month, "src": source, "imp": import_id},
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            rows_read = cur.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0]
            cur.execute(f"DROP TABLE IF EXISTS {stage}")
            cur.execute(f"DROP TABLE IF EXISTS {stage}_first")
        counts = cur.execute(
            "SELECT count(*) FILTER (WHERE reason LIKE 'duplicate%'),"
            " count(*) FILTER (WHERE reason NOT LIKE 'duplicate%') FROM import_rejects"
            " WHERE import_id = ?",
            [import_id],
        ).fetchall()[0]
        imported = cur.execute(
            "SELECT count(*) FROM contacts WHERE import_id = ?", [import_id]
        ).fetchall()[0][0]
    db.bump_version()
    step("saving", rows_read, rows_read)
    return {
        "rows_read": rows_read + len(malformed) + len(info.long_lines),
        "imported": imported,
        "duplicates": counts[0],
        "rejected": counts[1],
    }


def _has_rejects(cur) -> bool:
    try:
        cur.execute("SELECT 1 FROM reject_errors LIMIT 0").fetchall()
        return True
    except Exception:
        return False


def rejects(db: Database, import_id: int) -> pl.DataFrame:
    return db.query(
        "SELECT row_number, reason, email, zip, raw FROM import_rejects WHERE import_id = ?"
        " ORDER BY row_number",
        [import_id],
    )


def history(db: Database, scope: Any, limit: int = 50) -> pl.DataFrame:
    return db.query(
        f"""SELECT r.id, w.name AS client, r.source, r.filename, r.rows_read, r.imported,
                   r.duplicates, r.rejected, r.status, r.error, r.requested_by, r.started_at,
                   r.seconds
            FROM import_reports r JOIN workspaces w ON w.id = r.workspace_id
            WHERE {scope.filter("r.workspace_id")} ORDER BY r.id DESC LIMIT ?""",
        [limit],
    )
