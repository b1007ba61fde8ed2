"""Mirror tables of external systems: typed frames, upserts by primary key, and sync cursors.

A cursor is committed in the same transaction as the rows it covers (see core/bison/sync.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import polars as pl

from core.platform.store import Database


def upsert(cur, table: str, df: pl.DataFrame, keys: list[str]) -> int:
    """Insert rows, updating the given columns of rows whose key exists (other columns kept)."""
    if df.height == 0:
        return 0
    df = df.unique(subset=keys, keep="last", maintain_order=True)
    cols = df.columns
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
    cur.register("_upsert_rows", df.to_arrow())
    try:
        cur.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _upsert_rows "
            f"ON CONFLICT ({', '.join(keys)}) DO "
            + (f"UPDATE SET {updates}" if updates else "NOTHING")
        )
    finally:
        cur.unregister("_upsert_rows")
    return df.height


def get_cursor(db: Database, workspace_id: int, resource: str, source: str = "bison") -> str | None:
    return db.scalar(
        "SELECT cursor_value FROM sync_cursors WHERE source = ? AND workspace_id = ? AND resource = ?",
        [source, workspace_id, resource],
    )


def set_cursor(cur, workspace_id: int, resource: str, value: str, source: str = "bison") -> None:
    cur.execute(
        "INSERT INTO sync_cursors (source, workspace_id, resource, cursor_value, updated_at)"
        " VALUES (?, ?, ?, ?, now()) ON CONFLICT (source, workspace_id, resource)"
        " DO UPDATE SET cursor_value = excluded.cursor_value, updated_at = excluded.updated_at",
        [source, workspace_id, resource, value],
    )


def set_cursors(cur, workspace_id: int, values: dict[str, str], source: str = "bison") -> None:
    """`set_cursor` for many resources of one workspace in one statement."""
    if not values:
        return
    df = pl.DataFrame(
        {"resource": list(values), "cursor_value": list(values.values())},
        schema={"resource": pl.Utf8, "cursor_value": pl.Utf8},
    )
    cur.register("_cursor_rows", df.to_arrow())
    try:
        cur.execute(
            "INSERT INTO sync_cursors (source, workspace_id, resource, cursor_value, updated_at)"
            " SELECT ?, ?, resource, cursor_value, now() FROM _cursor_rows"
            " ON CONFLICT (source, workspace_id, resource)"
            " DO UPDATE SET cursor_value = excluded.cursor_value, updated_at = excluded.updated_at",
            [source, workspace_id],
        )
    finally:
        cur.unregister("_cursor_rows")


def frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


class Columns:
    """Column values copied from records, turned into one typed frame at the end.

    `add` takes each schema column from `given[name]` when passed: a list (one value per
    item), a function of the item, or one value for every row; otherwise it is the attribute
    of that name of every item. Only plain values are kept, not the records.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.data: dict[str, list[Any]] = {name: [] for name in schema}

    def add(self, items: Sequence[Any], **given: Any) -> Columns:
        for name, values in self.data.items():
            value = given[name] if name in given else attrgetter(name)
            if isinstance(value, list):
                values += value
            elif callable(value):
                values += map(value, items)
            else:
                values += [value] * len(items)
        return self

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([_series(n, self.data[n], dtype) for n, dtype in self.schema.items()])


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)


def _series(name: str, values: list[Any], dtype: Any) -> pl.Series:
    """A typed column; timestamps go in as exact epoch microseconds (naive ones read as UTC),
    which is much quicker than handing polars one timezone-aware datetime after another."""
    if dtype == TS:
        try:
            micros = [
                None
                if v is None
                else (v - (_EPOCH if v.tzinfo is not None else _NAIVE_EPOCH)) // _MICROSECOND
                for v in values
            ]
        except (AttributeError, TypeError):  # not datetimes: let polars convert them
            pass
        else:
            return pl.Series(name, micros, dtype=pl.Int64).cast(dtype)
    return pl.Series(name, values, dtype=dtype)


TS = pl.Datetime("us", "UTC")
