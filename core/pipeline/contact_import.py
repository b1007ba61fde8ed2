"""File import of contacts (CSV and Excel): column auto-detection, preview, and a set-based import.

The file is read by DuckDB's `read_csv` straight into a staging table, checked with SQL and copied
into `contacts`, so a file of a million rows never sits in Python memory. Every row that cannot be
imported goes to `import_rejects` with its row number and reason; good rows are never blocked.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from core.platform import audit
from core.platform.store import Database

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
DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y%m%d", "%m-%d-%Y", "%Y/%m/%d")
EMAIL_RE = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"


class ImportError_(ValueError):
    """The file cannot be imported at all (empty, unreadable, no email column); says why."""


ContactImportError = ImportError_


@dataclass
class FileInfo:
    path: Path
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]
    preview: pl.DataFrame = field(default_factory=pl.DataFrame)


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


def _detect_encoding(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        while chunk := fh.read(1 << 22):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "latin-1"
    return "utf-8"


def _header_row(path: Path, encoding: str) -> tuple[str, list[str]]:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
    sample = sample.lstrip("\ufeff")
    if not sample.strip():
        raise ImportError_("The file is empty: it has no header row and no contacts.")
    first_line = sample.splitlines()[0] if sample.splitlines() else sample
    delimiter = max(DELIMITERS, key=lambda d: first_line.count(d))
    if first_line.count(delimiter) == 0:
        delimiter = ","
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        h = h.strip() or f"column_{i + 1}"
        key = h.lower()
        if key in seen:
            seen[key] += 1
            h = f"{h}_{seen[key]}"
        else:
            seen[key] = 1
        names.append(h)
    return delimiter, names


def excel_to_csv(path: Path, out_dir: Path) -> Path:
    """Stream the first sheet of an .xlsx workbook to a UTF-8 CSV (rows never all in memory)."""
    from openpyxl import load_workbook

    out = out_dir / f"{path.stem}-{uuid.uuid4().hex[:6]}.csv"
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportError_(f"{path.name} is not a readable Excel workbook ({exc}).") from None
    try:
        ws = wb.worksheets[0]
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            for row in ws.iter_rows(values_only=True):
                writer.writerow(
                    [
                        v.date().isoformat()
                        if isinstance(v, dt.datetime)
                        else ("" if v is None else v)
                        for v in row
                    ]
                )
    finally:
        wb.close()
    return out


def _as_csv(path: Path) -> Path:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return excel_to_csv(path, path.parent)
    return path


def _reader(info: FileInfo) -> str:
    cols = ", ".join(f"'{_q(h)}': 'VARCHAR'" for h in info.headers)
    return (
        f"read_csv('{_q(str(info.path))}', header = true, delim = '{_q(info.delimiter)}',"
        f" quote = '\"', escape = '\"', encoding = '{info.encoding}', columns = {{{cols}}},"
        " ignore_errors = true, store_rejects = true, strict_mode = false)"
    )


def _q(s: str) -> str:
    return s.replace("'", "''")


def inspect_file(db: Database, path: str | Path, preview_rows: int = 10) -> FileInfo:
    """Encoding, delimiter, headers, the detected mapping and the first rows."""
    path = _as_csv(Path(path))
    if not path.exists():
        raise ImportError_(f"No such file: {path}")
    if path.stat().st_size == 0:
        raise ImportError_("The file is empty: it has no header row and no contacts.")
    encoding = _detect_encoding(path)
    delimiter, headers = _header_row(path, encoding)
    info = FileInfo(path, encoding, delimiter, headers, detect_mapping(headers))
    with db.cursor() as cur:
        info.preview = cur.sql(f"SELECT * FROM {_reader(info)} LIMIT {int(preview_rows)}").pl()
    return info


def _col(mapping: dict[str, str], fld: str) -> str:
    h = mapping.get(fld)
    return f"nullif(trim(\"{h.replace(chr(34), chr(34) * 2)}\"), '')" if h else "NULL::VARCHAR"


def _date_expr(e: str, formats: tuple[str, ...] = DATE_FORMATS) -> str:
    """First format that parses wins. COALESCE stops at the first hit, and a failed parse costs ten
    times a good one, so the file's own format should come first (see `_date_formats`)."""
    tries = ", ".join(f"try_strptime({e}, '{f}')" for f in formats)
    return f"CAST(coalesce({tries}) AS DATE)"


def _date_formats(cur, info: FileInfo, header: str | None, sample: int = 2000) -> tuple[str, ...]:
    """DATE_FORMATS ordered by how many of the column's first non-empty values each one parses."""
    if not header:
        return DATE_FORMATS
    col = f'"{header.replace(chr(34), chr(34) * 2)}"'
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
    """Import a CSV/Excel file of contacts for one client; returns the import report."""
    started = time.monotonic()
    step = progress or (lambda *_: None)
    if not db.scalar("SELECT count(*) FROM workspaces WHERE id = ?", [workspace_id]):
        raise ImportError_(f"No client with id {workspace_id}.")
    step("reading", 0, None)
    info = inspect_file(db, path, preview_rows=0)
    mapping = dict(mapping or info.mapping)
    unknown = [h for h in mapping.values() if h not in info.headers]
    if unknown:
        raise ImportError_(
            f"Mapped column(s) {', '.join(unknown)} are not in the file; its columns are "
            f"{', '.join(info.headers)}."
        )
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise ImportError_(
            f"No email column found. The file's columns are: {', '.join(info.headers)}. "
            "Map one of them to 'email'."
        )
    stage = f"import_stage_{uuid.uuid4().hex[:8]}"
    with db.cursor() as cur:
        import_id = cur.execute(
            "INSERT INTO import_reports (workspace_id, source, filename, mapping, requested_by)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            [workspace_id, source, filename or Path(path).name, json.dumps(mapping), actor],
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
        with db.cursor() as cur:
            cur.execute(
                "UPDATE import_reports SET status = 'failed', error = ?, finished_at = now(),"
                " seconds = ? WHERE id = ?",
                [str(exc)[:500], round(time.monotonic() - started, 3), import_id],
            )
        raise
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
            after={**report, "filename": filename or str(path)},
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
                    date_of_birth, renewal_month, status, source, import_id)
                SELECT k.contact_id, $wid, k.first_name, k.last_name, k.email, k.address,
                       coalesce(k.city, z.city), coalesce(k.state, z.state), k.zip, k.cell_phone,
                       k.purchase_date, k.home_value, k.head_of_household, k.income,
                       k.date_of_birth,
                       CASE WHEN purchase_date IS NULL THEN $month::DATE END, 'raw', $src, $imp
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
        "rows_read": rows_read + len(malformed),
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
