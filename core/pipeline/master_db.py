"""The agency's master contacts database (PostgreSQL through SQLAlchemy): health, availability per
ZIP, a pull planner that keeps every source query under `source_row_limit`, and pulls that skip
anyone pulled for any client in the last `master_pull_exclude_months` months.

Connection: the setting `master_db_url` (Settings → Connections), or `LEADOPS_MASTER_DB_URL`
overriding it (e.g. postgresql+psycopg://user@host/db; a password may come from the secret store
under `master_db.password`). Layout: table `master_db_table` (default
`consumers`) with columns named by `master_db_columns` (JSON: our field → their column; unnamed
fields use our name; null means the table has no such column). Pulled rows are imported through the same checks as a file import.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from connectors import master_db as master_db_connector
from core.accounts import access
from core.pipeline import notices
from core.pipeline.contact_import import FIELDS, import_file
from core.platform import connections, secrets, settings
from core.platform.store import Database, quote_ident

ENV_URL = connections.OVERRIDES["master_db_url"]
PASSWORD_SECRET = "master_db.password"  # the name it had before credentials were found by kind
PASSWORD_KIND = "master_db_password"
DEFAULT_COLUMNS = {f: f for f in FIELDS} | {"id": "id"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class MasterDbError(RuntimeError):
    pass


def configured(db: Database | None) -> bool:
    return bool(connections.master_db_url(db))


def _stored_password(db: Database | None) -> str | None:
    """The newest stored master database password (whatever its name; without `db`, the one
    named master_db.password)."""
    if db is None:
        return secrets.get_secret(PASSWORD_SECRET)
    return secrets.get_by_kind(db, PASSWORD_KIND, PASSWORD_SECRET)


def engine(url: str | None = None, *, db: Database | None = None) -> sa.Engine:
    """An engine for `url`, else the configured master database (setting or variable)."""
    url = url or connections.master_db_url(db)
    if not url:
        raise MasterDbError(
            "The master contacts database is not configured: set its address under "
            f"Settings → Connections (or {ENV_URL})."
        )
    password = None if sa.make_url(url).password else _stored_password(db)
    return master_db_connector.connect(url, password)


def _sql_name(name: str) -> str:
    """A checked table or column name as SQL: each dotted part through the store's quoting
    helper, lower-cased as PostgreSQL reads an unquoted name (so `EmailAddress` still means
    the column `emailaddress`, as it did before names were quoted)."""
    return ".".join(quote_ident(part.lower()) for part in name.split("."))


def layout(db: Database) -> tuple[str, dict[str, str]]:
    """The master table and our field -> its column, validated and quoted for SQL."""
    table = str(settings.get(db, "master_db_table"))
    raw = settings.get(db, "master_db_columns") or "{}"
    try:
        mapping = json.loads(raw)
        if not isinstance(mapping, dict):
            raise ValueError
        cols = {k: v for k, v in {**DEFAULT_COLUMNS, **mapping}.items() if v}
    except ValueError:
        raise MasterDbError("Setting master_db_columns is not a valid JSON object.") from None
    for name in [table, *cols.values()]:
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            raise MasterDbError(f"{str(name)[:80]!r} is not a valid table or column name.")
    return _sql_name(table), {k: _sql_name(v) for k, v in cols.items()}


def health(db: Database, eng: sa.Engine | None = None) -> dict[str, Any]:
    """Can we connect, does the table exist, how many rows, how long it took."""
    started = time.monotonic()
    try:
        eng = eng or engine(db=db)
        table, cols = layout(db)
        with eng.connect() as con:
            n = con.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            con.execute(sa.text(f"SELECT {', '.join(cols.values())} FROM {table} LIMIT 0"))
        return {
            "ok": True,
            "rows": int(n),
            "ms": round((time.monotonic() - started) * 1000),
            "message": f"{table.replace(chr(34), '')}: {n:,} contacts",
        }
    except (sa.exc.SQLAlchemyError, MasterDbError) as exc:
        text = str(exc).splitlines()[0][:300]
        return {
            "ok": False,
            "rows": None,
            "ms": round((time.monotonic() - started) * 1000),
            "message": text,
        }


def client_zips(db: Database, workspace_id: int) -> list[str]:
    return [
        r[0]
        for r in db.rows(
            "SELECT zip FROM zip_assignments WHERE workspace_id = ? ORDER BY zip", [workspace_id]
        )
    ]


def availability(db: Database, workspace_id: int, eng: sa.Engine | None = None) -> pl.DataFrame:
    """Contacts with an email per ZIP of the client's territory."""
    zips = client_zips(db, workspace_id)
    if not zips:
        return pl.DataFrame(schema={"zip": pl.Utf8, "available": pl.Int64})
    table, cols = layout(db)
    eng = eng or engine(db=db)
    with eng.connect() as con:
        rows = con.execute(
            sa.text(
                f"SELECT {cols['zip']} AS zip, count(*) FROM {table}"
                f" WHERE {cols['zip']} IN :zips AND {cols['email']} IS NOT NULL GROUP BY 1"
            ).bindparams(sa.bindparam("zips", expanding=True)),
            {"zips": zips},
        ).all()
    got = {str(z): int(n) for z, n in rows}
    return pl.DataFrame({"zip": zips, "available": [got.get(z, 0) for z in zips]})


def plan_pulls(avail: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """Pack ZIPs into source queries of at most `limit` rows each (first fit, largest first).
    A ZIP with more than `limit` contacts gets its own entry, read in pages of `limit`."""
    plan: list[dict[str, Any]] = []
    for z, n in sorted(avail.iter_rows(), key=lambda r: (-r[1], r[0])):
        if n <= 0:
            continue
        if n > limit:
            plan.append({"zips": [z], "rows": n, "queries": -(-n // limit)})
            continue
        for q in plan:
            if q["queries"] == 1 and q["rows"] + n <= limit:
                q["zips"].append(z)
                q["rows"] += n
                break
        else:
            plan.append({"zips": [z], "rows": n, "queries": 1})
    return plan


def pull(
    db: Database,
    user: access.User,
    workspace_id: int,
    count: int,
    month: dt.date,
    *,
    eng: sa.Engine | None = None,
    progress: Callable[[int, int | None, str | None], None] | None = None,
) -> dict[str, Any]:
    """Pull up to `count` contacts for a client's ZIPs, skipping recently pulled people, and
    import them (same checks and report as a file import). Recorded in pull_history."""
    access.require(user, "pipeline.import")
    step = progress or (lambda *_: None)
    eng = eng or engine(db=db)
    table, cols = layout(db)
    limit = int(settings.get(db, "source_row_limit"))
    months = int(settings.get(db, "master_pull_exclude_months"))
    recent = {
        r[0]
        for r in db.rows(
            "SELECT email_key FROM master_pulled WHERE pulled_at >= now() - to_months(?)", [months]
        )
    }
    plan = plan_pulls(availability(db, workspace_id, eng), limit)
    fields = [f for f in FIELDS if f in cols]
    select = ", ".join(f"{cols[f]} AS {f}" for f in fields)
    out_rows: list[tuple] = []
    queries, zips_pulled = 0, []
    with eng.connect() as con:
        for q in plan:
            last_id = None
            while len(out_rows) < count:
                where = f"{cols['zip']} IN :zips AND {cols['email']} IS NOT NULL"
                params: dict[str, Any] = {"zips": q["zips"], "lim": limit}
                if last_id is not None:
                    where += f" AND {cols['id']} > :last"
                    params["last"] = last_id
                stmt = sa.text(
                    f"SELECT {cols['id']} AS _id, {select} FROM {table} WHERE {where}"
                    f" ORDER BY {cols['id']} LIMIT :lim"
                ).bindparams(sa.bindparam("zips", expanding=True))
                rows = con.execute(stmt, params).all()
                queries += 1
                for r in rows:
                    email = str(r[1 + fields.index("email")] or "").strip().lower()
                    if email and email not in recent and len(out_rows) < count:
                        recent.add(email)
                        out_rows.append(tuple(r[1:]))
                step(len(out_rows), count, f"query {queries}")
                if len(rows) < limit:
                    break
                last_id = rows[-1][0]
            zips_pulled.extend(q["zips"])
            if len(out_rows) >= count:
                break
    tmp = Path(tempfile.gettempdir()) / f"leadops-pull-{workspace_id}-{time.time_ns()}.csv"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        w.writerows(["" if v is None else v for v in r] for r in out_rows)
    try:
        report = import_file(
            db,
            workspace_id,
            tmp,
            actor=user.email,
            source="master_db",
            filename=f"master database pull ({len(out_rows):,} rows)",
        )
    finally:
        tmp.unlink(missing_ok=True)
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO master_pulled (email_key, workspace_id)"
            " SELECT DISTINCT lower(email), workspace_id FROM contacts WHERE import_id = ?"
            " ON CONFLICT DO UPDATE SET pulled_at = now()",
            [report["import_id"]],
        )
        cur.execute(
            "INSERT INTO pull_history (workspace_id, month, import_id, zips, queries, requested,"
            " pulled, requested_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                workspace_id,
                month,
                report["import_id"],
                sorted(set(zips_pulled)),
                queries,
                count,
                report["imported"],
                user.email,
            ],
        )
    name = db.scalar("SELECT name FROM workspaces WHERE id = ?", [workspace_id])
    notices.notify(
        db,
        "pull done",
        f"{name} {month:%B %Y}: {len(out_rows):,} pulled in "
        f"{queries} queries, {report['imported']:,} imported",
        workspace_id,
    )
    return {**report, "pulled": len(out_rows), "queries": queries, "plan": plan}


def pull_history(db: Database, scope: Any, limit: int = 50) -> pl.DataFrame:
    return db.query(
        f"""SELECT p.id, w.name AS client, p.month, array_length(p.zips) AS zips, p.queries,
                   p.requested, p.pulled, p.requested_by, p.pulled_at
            FROM pull_history p JOIN workspaces w ON w.id = p.workspace_id
            WHERE {scope.filter("p.workspace_id")} ORDER BY p.id DESC LIMIT ?""",
        [limit],
    )
