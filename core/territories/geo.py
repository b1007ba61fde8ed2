"""Where ZIP codes are: great-circle distances, radius and map filters, and the ZIP table the map draws.

Distances use the haversine formula on a sphere of the Earth's mean radius (3,958.76 miles), which
is within 0.5% of the ellipsoid distance anywhere in the United States.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import polars as pl

from core.platform.scope import Scope
from core.platform.store import Database

EARTH_RADIUS_MILES = 3958.7613
MILES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_MILES / 180.0


class TerritoryError(ValueError):
    """Input a user can fix; the message names the field."""


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in miles between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def haversine_sql(lat: float, lon: float, lat_col: str = "lat", lon_col: str = "lon") -> str:
    """The same distance as a SQL expression from a fixed point (floats inlined, so safe)."""
    lat, lon = float(lat), float(lon)
    return (
        f"2 * {EARTH_RADIUS_MILES} * asin(least(1.0, sqrt("
        f"pow(sin(radians({lat_col} - {lat}) / 2), 2) + cos(radians({lat})) * cos(radians({lat_col}))"
        f" * pow(sin(radians({lon_col} - {lon}) / 2), 2))))"
    )


@dataclass(frozen=True)
class Center:
    lat: float
    lon: float
    label: str


_ZIP_RE = re.compile(r"^\d{5}$")


def resolve_center(db: Database, text: str) -> Center:
    """A ZIP ("78701") or a city ("Austin, TX", "Austin TX"; the state may be left out when the
    name is unique) as a point; a city is the mean position of its ZIP codes."""
    q = (text or "").strip()
    if not q:
        raise TerritoryError("Center: type a ZIP code or a city such as 'Austin, TX'.")
    if _ZIP_RE.match(q):
        row = db.rows(
            "SELECT lat, lon, city, state FROM us_zip_codes WHERE zip = ? AND lat IS NOT NULL AND lat <> 0",
            [q],
        )
        if not row:
            raise TerritoryError(f"Center: {q} is not a known ZIP code with a location.")
        lat, lon, city, state = row[0]
        return Center(lat, lon, f"{q} ({city.title()}, {state})")
    m = re.match(r"^(?P<city>.+?)[,\s]+(?P<state>[A-Za-z]{2})$", q)
    candidates = []
    if m:
        candidates.append((m.group("city").strip(), m.group("state").upper()))
    candidates.append((q, None))
    for city, state in candidates:
        rows = db.rows(
            "SELECT state, avg(lat), avg(lon), count(*) FROM us_zip_codes"
            " WHERE upper(city) = upper(?) AND lat IS NOT NULL AND lat <> 0 AND (? IS NULL OR state = ?)"
            " GROUP BY state ORDER BY count(*) DESC",
            [city, state, state],
        )
        if len(rows) == 1:
            st, lat, lon, _ = rows[0]
            return Center(lat, lon, f"{city.title()}, {st}")
        if len(rows) > 1:
            states = ", ".join(r[0] for r in rows[:8])
            raise TerritoryError(
                f"Center: there is a {city.title()} in {states}; add the state, e.g. '{city.title()}, {rows[0][0]}'."
            )
    raise TerritoryError(f"Center: no ZIP code or city matches {q!r}.")


@dataclass(frozen=True)
class ZipFilter:
    """What the map shows. Empty fields do not filter."""

    states: tuple[str, ...] = ()
    county: str = ""
    center: str = ""
    radius_miles: float = 0.0
    owner_ids: tuple[int, ...] = ()
    only_unassigned: bool = False


def _where(db: Database, flt: ZipFilter) -> tuple[list[str], list, Center | None]:
    where = ["z.lat IS NOT NULL", "NOT (z.lat = 0 AND z.lon = 0)"]
    params: list = []
    center = None
    if flt.states:
        where.append(f"z.state IN ({', '.join('?' for _ in flt.states)})")
        params += [s.upper() for s in flt.states]
    if flt.county.strip():
        where.append("z.county ILIKE ?")
        params.append(f"%{flt.county.strip()}%")
    if flt.center.strip() or flt.radius_miles:
        if flt.radius_miles <= 0:
            raise TerritoryError("Radius: give a distance in miles greater than 0.")
        center = resolve_center(db, flt.center)
        r = float(flt.radius_miles)
        dlat = r / MILES_PER_DEGREE_LAT
        dlon = dlat / max(math.cos(math.radians(center.lat)), 0.01)
        where.append("z.lat BETWEEN ? AND ? AND z.lon BETWEEN ? AND ?")
        params += [center.lat - dlat, center.lat + dlat, center.lon - dlon, center.lon + dlon]
        where.append(f"{haversine_sql(center.lat, center.lon, 'z.lat', 'z.lon')} <= {r}")
    if flt.only_unassigned:
        where.append("o.zip IS NULL")
    if flt.owner_ids:
        ids = ", ".join(str(int(i)) for i in flt.owner_ids)
        where.append(f"z.zip IN (SELECT zip FROM zip_assignments WHERE workspace_id IN ({ids}))")
    return where, params, center


ZIP_TYPE_WORDS = {
    "MILITARY": "military (APO/FPO)",
    "PO BOX": "PO box",
    "UNIQUE": "single-organisation",
}


def unlocated_zips(db: Database) -> pl.DataFrame:
    """US ZIP codes with no map location (mostly military APO/FPO addresses), by type: the map
    leaves them out, Coverage counts them. Columns: zip_type (in words), zips."""
    df = db.query(
        """SELECT zip_type, count(*)::INTEGER AS zips FROM us_zip_codes z
           WHERE z.lat IS NULL OR (z.lat = 0 AND z.lon = 0) GROUP BY ALL ORDER BY zips DESC, zip_type"""
    )
    return df.with_columns(
        pl.col("zip_type").replace_strict(
            ZIP_TYPE_WORDS, default=pl.col("zip_type").str.to_lowercase()
        )
    )


def zip_table(db: Database, scope: Scope, flt: ZipFilter | None = None) -> pl.DataFrame:
    """Every ZIP the filter keeps, with its owner(s) within scope and its contacts available.

    Columns: zip, city, county, state, lat, lon (rounded to 4 decimals, about 11 m), owner_id
    (lowest owning client id, null when unassigned), owner (names, comma-separated), owners
    (count), contacts, verified.
    """
    flt = flt or ZipFilter()
    where, params, _ = _where(db, flt)
    return db.query(
        f"""
        WITH o AS (
            SELECT a.zip, min(a.workspace_id) AS owner_id, count(*) AS owners,
                   string_agg(w.name, ', ' ORDER BY w.name) AS owner
            FROM zip_assignments a JOIN workspaces w ON w.id = a.workspace_id
            WHERE {scope.filter("a.workspace_id")}
            GROUP BY a.zip
        ), c AS (
            SELECT zip, count(*) AS contacts,
                   count(*) FILTER (WHERE verification_result = 'safe') AS verified
            FROM contacts WHERE {scope.filter("workspace_id")} GROUP BY zip
        )
        SELECT z.zip, z.city, z.county, z.state, round(z.lat, 4) AS lat, round(z.lon, 4) AS lon,
               o.owner_id, o.owner, coalesce(o.owners, 0)::INTEGER AS owners,
               coalesce(c.contacts, 0)::INTEGER AS contacts,
               coalesce(c.verified, 0)::INTEGER AS verified
        FROM us_zip_codes z LEFT JOIN o ON o.zip = z.zip LEFT JOIN c ON c.zip = z.zip
        WHERE {" AND ".join(where)}
        ORDER BY z.zip
        """,
        params,
    )


def describe_filter(db: Database, flt: ZipFilter) -> str:
    """The filter in words, for captions and audit entries."""
    parts = []
    if flt.states:
        parts.append("states " + ", ".join(flt.states))
    if flt.county.strip():
        parts.append(f"county matching '{flt.county.strip()}'")
    if flt.center.strip():
        parts.append(f"within {flt.radius_miles:g} mi of {resolve_center(db, flt.center).label}")
    if flt.only_unassigned:
        parts.append("unassigned only")
    return "; ".join(parts) or "all ZIP codes"
