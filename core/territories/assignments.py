"""Who owns which ZIP codes: preview a change, apply it as one change set, undo the last one.

A *change set* is one edit (a map selection assigned or unassigned, a bulk import, a bulk delete).
It is written in one transaction with one audit entry, and every row it adds to or removes from
`zip_assignments` is kept in `territory_change_items`, so "undo last change" puts back exactly
what was there (removed rows return with their original `assigned_at` and `assigned_by`).

Territories are exclusive by default: a ZIP belongs to at most one client, and assigning a ZIP
another client owns is a *conflict* that is left out unless the caller explicitly takes it over
(then it moves). With the setting `territory_shared_zips` on, ZIPs may be shared: conflicts are
still listed, and applying adds the new owner beside the existing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import polars as pl

from core.accounts import access
from core.accounts.access import User
from core.platform import audit, settings
from core.platform.scope import Scope
from core.platform.store import Database, fetch_one
from core.territories.geo import TerritoryError

__all__ = ["TerritoryError", "Preview", "ChangeResult"]

STATUS_LABELS = {
    "new": "New",
    "conflict": "Owned by another client",
    "already": "Already owned",
    "not_owned": "Not assigned (nothing to remove)",
    "remove": "Will be unassigned",
    "unknown": "Unknown ZIP",
}


def normalize_zip(raw: object) -> str | None:
    """A ZIP as five digits, or None. Accepts ZIP+4, spreadsheet-mangled values ('01234, 1234.0,
    1234 -> 01234) and surrounding spaces or quotes; rejects anything else."""
    if raw is None:
        return None
    s = str(raw).strip().strip("'\"").strip()
    m = re.fullmatch(r"(\d{3,5})(?:\.0+)?(?:-\d{4})?", s)
    if not m:
        return None
    return m.group(1).zfill(5)


def parse_zip_list(text: str) -> tuple[list[str], list[str]]:
    """ZIPs from pasted text (any separators); returns (unique ZIPs in order, tokens that are not ZIPs)."""
    zips: list[str] = []
    bad: list[str] = []
    seen: set[str] = set()
    for token in re.split(r"[\s,;|]+", text or ""):
        if not token:
            continue
        z = normalize_zip(token)
        if z is None:
            bad.append(token[:40])
        elif z not in seen:
            seen.add(z)
            zips.append(z)
    return zips, bad


def shared_allowed(db: Database) -> bool:
    return bool(settings.get(db, "territory_shared_zips"))


def client_name(db: Database, workspace_id: int) -> str:
    name = db.scalar("SELECT name FROM workspaces WHERE id = ?", [workspace_id])
    if name is None:
        raise TerritoryError(f"Client: no client with id {workspace_id}.")
    return name


@dataclass
class Preview:
    """What a change would do, ZIP by ZIP. `rows`: zip, city, state, status, owners (other owners'
    names for conflicts, the owner's for removals)."""

    action: str  # assign | unassign
    workspace_id: int | None
    workspace: str | None
    shared: bool
    rows: pl.DataFrame

    def count(self, status: str) -> int:
        return int((self.rows["status"] == status).sum()) if self.rows.height else 0

    def of(self, status: str) -> pl.DataFrame:
        return self.rows.filter(pl.col("status") == status)

    @property
    def counts(self) -> dict[str, int]:
        return {s: self.count(s) for s in STATUS_LABELS}

    def will_change(self, take_conflicts: bool = False) -> int:
        if self.action == "unassign":
            return self.count("remove")
        return self.count("new") + (
            self.count("conflict") if (self.shared or take_conflicts) else 0
        )


@dataclass
class ChangeResult:
    change_id: int | None
    added: int = 0
    removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    summary: str = ""


def _selection(cur: duckdb.DuckDBPyConnection, zips: Iterable[str]) -> int:
    clean = []
    seen = set()
    for z in zips:
        n = normalize_zip(z)
        if n and n not in seen:
            seen.add(n)
            clean.append(n)
    cur.execute("CREATE OR REPLACE TEMP TABLE _territory_sel (zip VARCHAR)")
    if clean:
        cur.register("_territory_sel_rows", pl.DataFrame({"zip": clean}).to_arrow())
        cur.execute("INSERT INTO _territory_sel SELECT zip FROM _territory_sel_rows")
        cur.unregister("_territory_sel_rows")
    return len(clean)


def _assign_plan(cur: duckdb.DuckDBPyConnection, workspace_id: int) -> pl.DataFrame:
    return cur.sql(
        """
        SELECT s.zip, any_value(z.city) AS city, any_value(z.state) AS state,
               CASE WHEN any_value(z.zip) IS NULL THEN 'unknown'
                    WHEN bool_or(a.workspace_id = $w) THEN 'already'
                    WHEN count(a.workspace_id) > 0 THEN 'conflict'
                    ELSE 'new' END AS status,
               string_agg(w.name, ', ' ORDER BY w.name) FILTER (WHERE a.workspace_id <> $w) AS owners
        FROM _territory_sel s
        LEFT JOIN us_zip_codes z ON z.zip = s.zip
        LEFT JOIN zip_assignments a ON a.zip = s.zip
        LEFT JOIN workspaces w ON w.id = a.workspace_id
        GROUP BY s.zip ORDER BY s.zip
        """,
        params={"w": workspace_id},
    ).pl()


def _unassign_plan(cur: duckdb.DuckDBPyConnection, workspace_id: int | None) -> pl.DataFrame:
    return cur.sql(
        """
        SELECT s.zip, any_value(z.city) AS city, any_value(z.state) AS state,
               CASE WHEN any_value(z.zip) IS NULL THEN 'unknown'
                    WHEN count(a.workspace_id) FILTER (WHERE $w IS NULL OR a.workspace_id = $w) > 0
                    THEN 'remove' ELSE 'not_owned' END AS status,
               string_agg(w.name, ', ' ORDER BY w.name)
                   FILTER (WHERE $w IS NULL OR a.workspace_id = $w) AS owners
        FROM _territory_sel s
        LEFT JOIN us_zip_codes z ON z.zip = s.zip
        LEFT JOIN zip_assignments a ON a.zip = s.zip
        LEFT JOIN workspaces w ON w.id = a.workspace_id
        GROUP BY s.zip ORDER BY s.zip
        """,
        params={"w": workspace_id},
    ).pl()


def preview_assign(db: Database, workspace_id: int, zips: Iterable[str]) -> Preview:
    name = client_name(db, workspace_id)
    with db.cursor() as cur:
        _selection(cur, zips)
        rows = _assign_plan(cur, workspace_id)
    return Preview("assign", workspace_id, name, shared_allowed(db), rows)


def preview_unassign(db: Database, zips: Iterable[str], workspace_id: int | None = None) -> Preview:
    name = client_name(db, workspace_id) if workspace_id is not None else None
    with db.cursor() as cur:
        _selection(cur, zips)
        rows = _unassign_plan(cur, workspace_id)
    return Preview("unassign", workspace_id, name, shared_allowed(db), rows)


def write_change_set(
    cur: duckdb.DuckDBPyConnection,
    user: User,
    *,
    kind: str,
    workspace_id: int | None,
    summary: str,
    adds: pl.DataFrame,
    removes: pl.DataFrame,
    details: dict | None = None,
) -> int | None:
    """Apply one change set inside the caller's transaction: `adds` and `removes` are frames of
    (zip, workspace_id). Records the items, the change row and one audit entry. Returns its id,
    or None when there is nothing to change."""
    adds = adds.select(pl.col("zip").cast(pl.String), pl.col("workspace_id").cast(pl.Int32))
    removes = removes.select(pl.col("zip").cast(pl.String), pl.col("workspace_id").cast(pl.Int32))
    adds = adds.unique(maintain_order=True)
    removes = removes.unique(maintain_order=True)
    if adds.height == 0 and removes.height == 0:
        return None
    cid = fetch_one(cur, "SELECT nextval('territory_changes_id_seq')")[0]
    cur.register("_tc_add", adds.to_arrow())
    cur.register("_tc_rm", removes.to_arrow())
    try:
        cur.execute(
            "INSERT INTO territory_change_items (change_id, op, zip, workspace_id, assigned_at, assigned_by)"
            " SELECT ?, 'remove', a.zip, a.workspace_id, a.assigned_at, a.assigned_by"
            " FROM zip_assignments a JOIN _tc_rm r ON r.zip = a.zip AND r.workspace_id = a.workspace_id",
            [cid],
        )
        removed = fetch_one(
            cur, "SELECT count(*) FROM territory_change_items WHERE change_id = ?", [cid]
        )[0]
        cur.execute(
            "DELETE FROM zip_assignments a USING _tc_rm r"
            " WHERE a.zip = r.zip AND a.workspace_id = r.workspace_id"
        )
        cur.execute(
            "INSERT INTO territory_change_items (change_id, op, zip, workspace_id)"
            " SELECT ?, 'add', n.zip, n.workspace_id FROM _tc_add n"
            " ANTI JOIN zip_assignments a ON a.zip = n.zip AND a.workspace_id = n.workspace_id",
            [cid],
        )
        added = (
            fetch_one(
                cur, "SELECT count(*) FROM territory_change_items WHERE change_id = ?", [cid]
            )[0]
            - removed
        )
        cur.execute(
            "INSERT INTO zip_assignments (zip, workspace_id, assigned_by)"
            " SELECT zip, workspace_id, ? FROM territory_change_items WHERE change_id = ? AND op = 'add'",
            [user.email, cid],
        )
    finally:
        cur.unregister("_tc_add")
        cur.unregister("_tc_rm")
    cur.execute(
        "INSERT INTO territory_changes (id, kind, workspace_id, summary, added, removed, actor)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [cid, kind, workspace_id, summary, added, removed, user.email],
    )
    audit.record(
        cur,
        actor=user.email,
        action=f"territory.{kind}",
        entity="territory_change",
        entity_id=cid,
        before={"removed": removed, "zips": removes["zip"].head(50).to_list()} if removed else None,
        after={
            "summary": summary,
            "added": added,
            "zips": adds["zip"].head(50).to_list(),
            **(details or {}),
        },
    )
    return cid


def _check_client(db: Database, user: User, workspace_id: int) -> str:
    name = client_name(db, workspace_id)
    if not user.scope.allows(workspace_id):
        raise access.PermissionDenied(f"You may not change {name}'s territory.")
    return name


def assign(
    db: Database,
    user: User,
    workspace_id: int,
    zips: Iterable[str],
    *,
    take_conflicts: bool = False,
    note: str = "",
) -> ChangeResult:
    """Assign ZIPs to a client as one change set. New ZIPs are added; ZIPs another client owns
    are conflicts: added beside the owner when sharing is allowed, moved when `take_conflicts`,
    left out otherwise. Unknown ZIPs are skipped."""
    access.require(user, "territory.manage")
    name = _check_client(db, user, workspace_id)
    shared = shared_allowed(db)
    zips = list(zips)
    with db.transaction() as cur:
        _selection(cur, zips)
        plan = _assign_plan(cur, workspace_id)
        new = plan.filter(pl.col("status") == "new")
        conflicts = plan.filter(pl.col("status") == "conflict")
        take = conflicts.height > 0 and (shared or take_conflicts)
        adds = pl.concat([new, conflicts]) if take else new
        adds = adds.select("zip", pl.lit(workspace_id).alias("workspace_id"))
        removes = pl.DataFrame(schema={"zip": pl.String, "workspace_id": pl.Int32})
        if take and not shared:
            removes = cur.sql(
                "SELECT a.zip, a.workspace_id FROM zip_assignments a JOIN _territory_sel s USING (zip)"
                " WHERE a.workspace_id <> ?",
                params=[workspace_id],
            ).pl()
        skipped = {
            "already": int((plan["status"] == "already").sum()),
            "unknown": int((plan["status"] == "unknown").sum()),
            "conflict": 0 if take else conflicts.height,
        }
        summary = f"Assign {adds.height:,} ZIP(s) to {name}" + (
            f", {removes.height:,} taken from other clients" if removes.height else ""
        )
        if note:
            summary += f" ({note})"
        cid = write_change_set(
            cur,
            user,
            kind="assign",
            workspace_id=workspace_id,
            summary=summary,
            adds=adds,
            removes=removes,
            details={
                "client": name,
                "shared": shared,
                "conflicts": conflicts.select("zip", "owners").head(50).to_dicts(),
                "skipped": skipped,
            },
        )
    return ChangeResult(cid, adds.height if cid else 0, removes.height, skipped, summary)


def unassign(
    db: Database,
    user: User,
    zips: Iterable[str],
    *,
    workspace_id: int | None = None,
    kind: str = "unassign",
    note: str = "",
) -> ChangeResult:
    """Remove the ZIPs from one client (or from every owner when `workspace_id` is None)."""
    access.require(user, "territory.manage")
    name = _check_client(db, user, workspace_id) if workspace_id is not None else None
    if workspace_id is None and user.scope.workspace_ids is not None:
        raise access.PermissionDenied("Pick the client whose ZIPs to remove.")
    with db.transaction() as cur:
        n = _selection(cur, zips)
        removes = cur.sql(
            "SELECT a.zip, a.workspace_id FROM zip_assignments a JOIN _territory_sel s USING (zip)"
            " WHERE ? IS NULL OR a.workspace_id = ?",
            params=[workspace_id, workspace_id],
        ).pl()
        summary = f"Unassign {removes['zip'].n_unique():,} ZIP(s)" + (
            f" from {name}" if name else " from every owner"
        )
        if note:
            summary += f" ({note})"
        cid = write_change_set(
            cur,
            user,
            kind=kind,
            workspace_id=workspace_id,
            summary=summary,
            adds=pl.DataFrame(schema={"zip": pl.String, "workspace_id": pl.Int32}),
            removes=removes,
            details={"client": name, "selected": n},
        )
    return ChangeResult(cid, 0, removes.height if cid else 0, {}, summary)


def unassign_client(db: Database, user: User, workspace_id: int) -> ChangeResult:
    """Bulk delete: every ZIP of one client."""
    zips = [
        r[0]
        for r in db.rows("SELECT zip FROM zip_assignments WHERE workspace_id = ?", [workspace_id])
    ]
    return unassign(
        db, user, zips, workspace_id=workspace_id, kind="delete", note="all ZIPs of the client"
    )


def last_change(db: Database) -> dict | None:
    """The newest change set not undone yet (what "Undo last change" would revert)."""
    df = db.query(
        "SELECT c.id, c.kind, c.summary, c.added, c.removed, c.actor, c.created_at, w.name AS client"
        " FROM territory_changes c LEFT JOIN workspaces w ON w.id = c.workspace_id"
        " WHERE c.undone_at IS NULL ORDER BY c.id DESC LIMIT 1"
    )
    return df.row(0, named=True) if df.height else None


def undo_last(db: Database, user: User) -> ChangeResult | None:
    """Revert the newest change set exactly: delete what it added, restore what it removed."""
    access.require(user, "territory.manage")
    with db.transaction() as cur:
        row = fetch_one(
            cur,
            "SELECT id, summary FROM territory_changes WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        if row is None:
            return None
        cid, summary = row
        cur.execute(
            "DELETE FROM zip_assignments a USING territory_change_items i"
            " WHERE i.change_id = ? AND i.op = 'add' AND a.zip = i.zip AND a.workspace_id = i.workspace_id",
            [cid],
        )
        cur.execute(
            "INSERT INTO zip_assignments (zip, workspace_id, assigned_at, assigned_by)"
            " SELECT zip, workspace_id, assigned_at, assigned_by FROM territory_change_items"
            " WHERE change_id = ? AND op = 'remove' ON CONFLICT DO NOTHING",
            [cid],
        )
        added, removed = fetch_one(
            cur,
            "SELECT count(*) FILTER (WHERE op = 'add'), count(*) FILTER (WHERE op = 'remove')"
            " FROM territory_change_items WHERE change_id = ?",
            [cid],
        )
        cur.execute(
            "UPDATE territory_changes SET undone_at = now(), undone_by = ? WHERE id = ?",
            [user.email, cid],
        )
        audit.record(
            cur,
            actor=user.email,
            action="territory.undo",
            entity="territory_change",
            entity_id=cid,
            before={"summary": summary},
            after={"unassigned": added, "restored": removed},
        )
    return ChangeResult(cid, removed, added, {}, f"Undid: {summary}")


def history(db: Database, scope: Scope, limit: int = 100) -> pl.DataFrame:
    """Recent change sets (newest first) that touch clients in scope."""
    return db.query(
        "SELECT c.id, c.created_at, c.actor, c.kind, w.name AS client, c.summary, c.added, c.removed,"
        " c.undone_at, c.undone_by FROM territory_changes c LEFT JOIN workspaces w ON w.id = c.workspace_id"
        f" WHERE {'true' if scope.workspace_ids is None else scope.filter('c.workspace_id')}"
        " ORDER BY c.id DESC LIMIT ?",
        [limit],
    )
