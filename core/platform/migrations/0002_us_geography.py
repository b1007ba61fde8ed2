"""Fill us_states and us_zip_codes from the `zipcodes` package (real USPS ZIP data)."""

import pyarrow as pa
import zipcodes

from core.platform.geo_data import STATES


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def migrate(cur) -> None:
    cur.executemany(
        "INSERT INTO us_states VALUES (?, ?, ?, ?, ?)",
        [(code, *vals) for code, vals in STATES.items()],
    )
    # filter_by with no filter: every ZIP, as a list of our own. list_all would keep its 42k
    # dicts cached in the module for the life of the process, where every full garbage
    # collection walks them (a migrating app process, a test run, a sync after `migrate`).
    rows = zipcodes.filter_by(None)
    zips = pa.table(
        {
            "zip": [r["zip_code"] for r in rows],
            "city": [r["city"] for r in rows],
            "state": [r["state"] for r in rows],
            "county": [r.get("county") or None for r in rows],
            "lat": [_float(r.get("lat")) for r in rows],
            "lon": [_float(r.get("long")) for r in rows],
            "timezone": [r.get("timezone") or None for r in rows],
            "zip_type": [r["zip_code_type"] for r in rows],
            "active": [bool(r["active"]) for r in rows],
        }
    )
    cur.register("zips_arrow", zips)
    cur.execute("INSERT INTO us_zip_codes SELECT * FROM zips_arrow")
    cur.unregister("zips_arrow")
