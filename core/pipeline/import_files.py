"""Contact and suppression files as they arrive: Excel workbooks converted to CSV within limits,
text made readable (core/platform/textfiles.py), and uploads kept once per content.

An .xlsx is a zip of XML: a 400 KB workbook can unzip to hundreds of megabytes. Before a
workbook is opened, its unzipped size is checked against `import_excel_max_mb`, and while its
first sheet is read no more than `import_excel_max_rows` rows are taken; either limit refuses the
file with a message naming the setting.

A page upload is converted once (`stage_upload`, keyed by a hash of its content, so reruns of the
page reuse it) into a folder of its own under the temporary folder, and deleted when the import
has run, when the file leaves the uploader (`release`), or after `STALE_SECONDS` unused.
Everything else made on the way (a converted or re-encoded copy) is deleted as soon as the
import or the inspection that made it ends, whether it succeeded or not.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from core.platform import settings, textfiles
from core.platform.store import Database, quote_literal

DELIMITERS = (",", ";", "\t", "|")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MAX_COLUMNS = 500
STALE_SECONDS = 2 * 3600
STAGING_DIR = "leadops-uploads"


class ImportError_(ValueError):
    """The file cannot be imported at all (empty, unreadable, no email column); says why."""


@dataclass
class ExcelLimits:
    max_bytes: int
    max_rows: int


def excel_limits(db: Database) -> ExcelLimits:
    return ExcelLimits(
        int(settings.get(db, "import_excel_max_mb")) * 1_000_000,
        int(settings.get(db, "import_excel_max_rows")),
    )


def is_excel(name: str | Path) -> bool:
    return Path(name).suffix.lower() in EXCEL_SUFFIXES


def _cell(v: object) -> object:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    return "" if v is None else v


def excel_to_csv(path: Path, out: Path, limits: ExcelLimits, name: str | None = None) -> Path:
    """Stream the first sheet of a workbook to a UTF-8 CSV, refusing it when it unzips to more
    than `limits.max_bytes` or has more than `limits.max_rows` rows (`out` is then removed)."""
    from openpyxl import load_workbook

    name = name or path.name
    try:
        with zipfile.ZipFile(path) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        raise ImportError_(
            f"{name} is not a readable Excel workbook (it is not an .xlsx file)."
        ) from None
    if unzipped > limits.max_bytes:
        raise ImportError_(
            f"{name} unzips to {unzipped / 1e6:,.0f} MB, over the {limits.max_bytes / 1e6:,.0f} MB"
            " limit for workbooks (setting import_excel_max_mb); save the sheet as CSV and import that."
        )
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ImportError_(f"{name} is not a readable Excel workbook ({exc}).") from None
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # a sheet's stated size is not trusted: rows are read as they are
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            width = None
            for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
                if n > limits.max_rows + 1:
                    raise ImportError_(
                        f"{name} has more than {limits.max_rows:,} rows, the limit for workbooks"
                        " (setting import_excel_max_rows); split it or save it as CSV."
                    )
                cells = [_cell(v) for v in row]
                if width is None:
                    while cells and cells[-1] == "":
                        cells.pop()
                    width = len(cells)
                    if width > MAX_COLUMNS:
                        raise ImportError_(
                            f"{name} has {width:,} columns; a contact list has at most"
                            f" {MAX_COLUMNS}. Remove the empty or extra columns and try again."
                        )
                writer.writerow((cells + [""] * width)[:width])
    except ImportError_:
        out.unlink(missing_ok=True)
        raise
    except Exception as exc:
        out.unlink(missing_ok=True)
        raise ImportError_(f"{name}: the first sheet could not be read ({exc}).") from None
    finally:
        wb.close()
    return out


@contextmanager
def readable(
    db: Database, path: str | Path, name: str | None = None
) -> Iterator[textfiles.TextFile]:
    """A file of contacts (CSV, text or Excel) as a UTF-8 CSV DuckDB can read, for the length of
    the block; every file made on the way is deleted when it ends."""
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise ImportError_(f"No such file: {name}")
    if path.stat().st_size == 0:
        raise ImportError_(f"{name} is empty: it has no header row and no rows.")
    converted = None
    try:
        if is_excel(path):
            converted = Path(tempfile.gettempdir()) / f"leadops-xlsx-{uuid.uuid4().hex}.csv"
            excel_to_csv(path, converted, excel_limits(db), name)
            path = converted
        try:
            with textfiles.readable_copy(path, name) as text:
                yield text
        except textfiles.UnreadableFile as exc:
            raise ImportError_(str(exc)) from None
    finally:
        if converted is not None:
            converted.unlink(missing_ok=True)


# -- reading a file ------------------------------------------------------------------------


@dataclass
class FileInfo:
    path: Path  # the UTF-8 CSV DuckDB reads (a converted copy lives only while it is read)
    encoding: str  # what the file was read as, e.g. "utf-8" or "windows-1252"
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]
    preview: pl.DataFrame = field(default_factory=pl.DataFrame)
    long_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, bytes) left out


def shown(names: list[str], limit: int = 30) -> str:
    """Column names for a message: each cut to 60 characters, at most `limit` of them."""
    out = ", ".join(n if len(n) <= 60 else n[:57] + "…" for n in names[:limit])
    return out + (f" … ({len(names) - limit} more)" if len(names) > limit else "")


def header_row(path: Path, name: str) -> tuple[str, list[str]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        sample = fh.read(1 << 16)
        if "\n" not in sample and "\r" not in sample:
            sample += fh.read(textfiles.MAX_LINE_BYTES)
    sample = sample.lstrip("\ufeff")
    if not sample.strip():
        raise ImportError_(f"{name} is empty: it has no header row and no rows.")
    first_line = sample.splitlines()[0] if sample.splitlines() else sample
    delimiter = max(DELIMITERS, key=lambda d: first_line.count(d))
    if first_line.count(delimiter) == 0:
        delimiter = ","
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    except (csv.Error, StopIteration) as exc:
        raise ImportError_(f"The header row of {name} is not valid CSV ({exc}).") from None
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


def reader_sql(info: FileInfo) -> str:
    """read_csv over the file: every name and path a quoted literal, every value a VARCHAR."""
    cols = ", ".join(f"{quote_literal(h)}: 'VARCHAR'" for h in info.headers)
    return (
        f"read_csv({quote_literal(str(info.path))}, header = true,"
        f" delim = {quote_literal(info.delimiter)}, quote = '\"', escape = '\"',"
        f" encoding = 'utf-8', columns = {{{cols}}},"
        " ignore_errors = true, store_rejects = true, strict_mode = false)"
    )


def csv_problem(exc: duckdb.Error, name: str) -> ImportError_:
    """DuckDB's reading error as one sentence about the file."""
    text = str(exc)
    m = re.search(r"Maximum line size of (\d+) bytes exceeded", text)
    if m:
        return ImportError_(
            f"{name} has a row longer than {int(m.group(1)) / 1e6:.0f} MB (a quoted value runs"
            " over many lines?); fix or remove it and import again. Nothing was imported."
        )
    first = text.splitlines()[0].removeprefix("Invalid Input Error: ")[:200]
    return ImportError_(f"{name} could not be read as CSV ({first}). Nothing was imported.")


def inspect_text(
    db: Database, text: textfiles.TextFile, name: str, preview_rows: int = 0
) -> FileInfo:
    """Delimiter, headers and the first rows of a readable file (`readable`)."""
    if any(line == 1 for line, _ in text.long_lines):
        size = dict(text.long_lines)[1]
        raise ImportError_(
            f"The first line of {name} is {textfiles.size_text(size)} long: it is not a header"
            " row naming the columns, so the file cannot be read."
        )
    delimiter, headers = header_row(text.path, name)
    info = FileInfo(text.path, text.encoding, delimiter, headers, {})
    info.long_lines = text.long_lines
    if preview_rows:
        try:
            with db.cursor() as cur:
                info.preview = cur.sql(
                    f"SELECT * FROM {reader_sql(info)} LIMIT {int(preview_rows)}"
                ).pl()
        except duckdb.InvalidInputException as exc:
            raise csv_problem(exc, name) from None
    return info


def row_in_file(n: int, long_lines: list[tuple[int, int]]) -> int:
    """The row number in the file of the `n`-th row read, counting the lines left out."""
    for line, _ in sorted(long_lines):
        if line - 1 <= n:
            n += 1
    return n


def long_line_reason(line: int, size: int) -> str:
    return (
        f"line {line} is {textfiles.size_text(size)} long, over the"
        f" {textfiles.size_text(textfiles.MAX_LINE_BYTES)} a row may have; it was left out"
    )


# -- uploads from a page ---------------------------------------------------------------------


@dataclass(frozen=True)
class StagedUpload:
    digest: str
    name: str  # as uploaded
    path: Path  # the CSV to read (a workbook's first sheet, converted)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_failed: dict[str, str] = {}  # digest and limits -> why it was refused (a rerun does not retry)


def staging_root() -> Path:
    return Path(tempfile.gettempdir()) / STAGING_DIR


def _lock(digest: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(digest, threading.Lock())


def stage_upload(db: Database, data: bytes, name: str) -> StagedUpload:
    """Keep an uploaded file for inspection and import, converted once per content (a rerun of
    the page, or the same file uploaded again, reuses it). Raises ImportError_ when refused."""
    sweep()
    digest = hashlib.sha256(data).hexdigest()[:32]
    folder = staging_root() / digest
    target = folder / "contacts.csv"
    limits = excel_limits(db)
    refused_key = f"{digest}:{limits.max_bytes}:{limits.max_rows}"
    with _lock(digest):
        if target.exists():
            os.utime(folder)
            return StagedUpload(digest, name, target)
        if refused_key in _failed:
            raise ImportError_(_failed[refused_key])
        if not data:
            raise ImportError_(f"{name} is empty: it has no header row and no rows.")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            part = folder / f"{uuid.uuid4().hex}.part"
            if is_excel(name):
                book = folder / "upload.xlsx"
                book.write_bytes(data)
                try:
                    excel_to_csv(book, part, limits, name)
                finally:
                    book.unlink(missing_ok=True)
            else:
                part.write_bytes(data)
            part.replace(target)
        except ImportError_ as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if len(_failed) > 100:
                _failed.clear()
            _failed[refused_key] = str(exc)
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return StagedUpload(digest, name, target)


def release(digest: str | None) -> None:
    """Delete a staged upload (its file left the uploader, or its import has run)."""
    if not digest or not all(c in "0123456789abcdef" for c in digest):
        return
    with _lock(digest):
        shutil.rmtree(staging_root() / digest, ignore_errors=True)


def staged_digest(path: str | Path) -> str | None:
    """The digest of a staged upload's file, or None for any other path."""
    p = Path(path)
    return p.parent.name if p.parent.parent == staging_root() else None


def touch(path: str | Path) -> None:
    """Mark a staged upload as in use (an import starts reading it), so no sweep takes it."""
    digest = staged_digest(path)
    if digest:
        try:
            os.utime(staging_root() / digest)
        except OSError:
            pass


def sweep(max_age: float = STALE_SECONDS) -> int:
    """Delete staged uploads nobody has used for `max_age` seconds; returns how many."""
    root = staging_root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age
    n = 0
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                n += 1
        except OSError:
            continue
    return n
