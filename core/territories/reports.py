"""Reading territories: coverage per state and per client, ZIP search, owner lookup, exports."""

from __future__ import annotations

import json
from typing import IO

import polars as pl

from core.platform.exports import stream_query
from core.platform.scope import Scope
from core.platform.store import Database
from core.territories.assignments import normalize_zip, parse_zip_list


def state_coverage(db: Database, scope: Scope) -> pl.DataFrame:
    """Per state: ZIPs in the state, ZIPs assigned to clients in scope, and the share assigned."""
    return db.query(
        f"""
        SELECT z.state, s.name, count(*)::INTEGER AS total,
               count(a.zip)::INTEGER AS assigned,
               count(a.zip) / count(*) AS share
        FROM us_zip_codes z
        JOIN us_states s ON s.code = z.state
        LEFT JOIN (SELECT DISTINCT zip FROM zip_assignments WHERE {scope.filter()}) a ON a.zip = z.zip
        GROUP BY ALL ORDER BY z.state
        """
    )


def client_coverage(db: Database, scope: Scope) -> pl.DataFrame:
    """Per client: ZIPs, states, counties, and the contacts available and verified in its ZIPs."""
    return db.query(
        f"""
        WITH mine AS (
            SELECT a.workspace_id, a.zip, z.state, z.county
            FROM zip_assignments a LEFT JOIN us_zip_codes z USING (zip)
            WHERE {scope.filter("a.workspace_id")}
        ), per_zip AS (
            SELECT zip, count(*) AS contacts,
                   count(*) FILTER (WHERE verification_result = 'safe') AS verified
            FROM contacts WHERE zip IN (SELECT zip FROM mine) GROUP BY zip
        )
        SELECT w.name AS client,
               count(m.zip)::INTEGER AS zips,
               count(DISTINCT m.state)::INTEGER AS states,
               count(DISTINCT m.state || '/' || m.county)::INTEGER AS counties,
               string_agg(DISTINCT m.state, ' ' ORDER BY m.state) AS state_list,
               coalesce(sum(p.contacts), 0)::BIGINT AS contacts_available,
               coalesce(sum(p.verified), 0)::BIGINT AS contacts_verified
        FROM workspaces w
        LEFT JOIN mine m ON m.workspace_id = w.id
        LEFT JOIN per_zip p ON p.zip = m.zip
        WHERE w.active AND {scope.filter("w.id")}
        GROUP BY w.name ORDER BY zips DESC, w.name
        """
    )


def search_zips(db: Database, scope: Scope, query: str, limit: int = 200) -> pl.DataFrame:
    """ZIPs matching a ZIP (or its first digits), a city or a county, with their owners."""
    q = (query or "").strip()
    if not q:
        return pl.DataFrame()
    digits = q.isdigit()
    return db.query(
        f"""
        SELECT z.zip, z.city, z.county, z.state, z.lat, z.lon, z.zip_type,
               string_agg(w.name, ', ' ORDER BY w.name) AS owner
        FROM us_zip_codes z
        LEFT JOIN zip_assignments a ON a.zip = z.zip AND {scope.filter("a.workspace_id")}
        LEFT JOIN workspaces w ON w.id = a.workspace_id
        WHERE {"z.zip LIKE ? || '%'" if digits else "(z.city ILIKE ? OR z.county ILIKE ?)"}
        GROUP BY ALL
        ORDER BY z.zip LIMIT ?
        """,
        [q, limit] if digits else [f"%{q}%", f"%{q}%", limit],
    )


def owner_lookup(db: Database, scope: Scope, text: str) -> tuple[pl.DataFrame, list[str]]:
    """The owner of each ZIP in a pasted list; returns (table in the pasted order, tokens that
    are not ZIP codes)."""
    zips, bad = parse_zip_list(text)
    if not zips:
        return pl.DataFrame(), bad
    order = pl.DataFrame({"zip": zips, "pos": range(len(zips))})
    with db.cursor() as cur:
        cur.register("_lookup_zips", order.to_arrow())
        df = cur.sql(
            f"""
            SELECT l.zip, z.city, z.county, z.state,
                   CASE WHEN z.zip IS NULL THEN 'unknown ZIP'
                        WHEN count(a.workspace_id) = 0 THEN 'unassigned'
                        ELSE string_agg(w.name, ', ' ORDER BY w.name) END AS owner
            FROM _lookup_zips l
            LEFT JOIN us_zip_codes z ON z.zip = l.zip
            LEFT JOIN zip_assignments a ON a.zip = l.zip AND {scope.filter("a.workspace_id")}
            LEFT JOIN workspaces w ON w.id = a.workspace_id
            GROUP BY l.zip, l.pos, z.zip, z.city, z.county, z.state ORDER BY l.pos
            """
        ).pl()
        cur.unregister("_lookup_zips")
    return df, bad


EXPORT_COLUMNS = ("zip", "client", "city", "county", "state", "assigned_at", "assigned_by")


def _export_sql(scope: Scope) -> str:
    return (
        "SELECT a.zip, w.name AS client, z.city, z.county, z.state, a.assigned_at, a.assigned_by"
        " FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id"
        " LEFT JOIN us_zip_codes z ON z.zip = a.zip"
        f" WHERE {scope.filter('a.workspace_id')} ORDER BY w.name, a.zip"
    )


def assignments(db: Database, scope: Scope) -> pl.DataFrame:
    return db.query(_export_sql(scope))


def export_assignments(db: Database, scope: Scope, out: IO[str], fmt: str = "csv") -> int:
    """Write the assignments (zip, client, city, county, state, assigned_at, assigned_by) as
    formula-safe CSV or as a JSON array of objects, streamed; returns the row count."""
    if fmt == "csv":
        return stream_query(db, _export_sql(scope), None, out)
    if fmt != "json":
        raise ValueError(f"Format: {fmt!r} is not csv or json.")
    n = 0
    out.write("[")
    with db.cursor() as cur:
        reader = cur.sql(_export_sql(scope)).to_arrow_reader(50_000)
        for batch in reader:
            for rec in batch.to_pylist():
                rec["assigned_at"] = rec["assigned_at"].isoformat() if rec["assigned_at"] else None
                out.write(("\n" if n == 0 else ",\n") + json.dumps(rec))
                n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def export_bytes(db: Database, scope: Scope, fmt: str) -> bytes:
    import io

    buf = io.StringIO()
    export_assignments(db, scope, buf, fmt)
    return buf.getvalue().encode("utf-8")


def zip_point(db: Database, zip_code: str) -> tuple[float, float] | None:
    z = normalize_zip(zip_code)
    row = db.rows("SELECT lat, lon FROM us_zip_codes WHERE zip = ? AND lat IS NOT NULL", [z])
    return (row[0][0], row[0][1]) if row else None


def state_codes(db: Database) -> list[str]:
    """State codes that have ZIP codes, for pickers."""
    return [r[0] for r in db.rows("SELECT DISTINCT state FROM us_zip_codes ORDER BY state")]
