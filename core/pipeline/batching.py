"""The batch stage: cut a client's verified contacts for a renewal month into renewal windows.

One batch per window (days 1-7, 8-14, 15-21, 22-end), by the purchase-date anniversary; contacts
without a purchase date are spread evenly over the four windows. When more contacts are verified
than the package needs, the ones taken are sampled evenly by ZIP (round-robin over ZIPs); the rest
stay `verified` as surplus. Running the stage again adds nothing once the package is full.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from core.accounts import access
from core.platform import audit, exports
from core.platform.renewals import add_months, batch_name, renewal_windows
from core.platform.store import Database


def package_need(db: Database, workspace_id: int) -> int:
    return int(
        db.scalar(
            "SELECT t.refined_contacts FROM workspaces w JOIN package_tiers t ON t.tier = w.tier"
            " WHERE w.id = ?",
            [workspace_id],
        )
        or 0
    )


def ensure_batches(cur, workspace_id: int, month: dt.date) -> None:
    windows = renewal_windows(month)
    frame = pa.table(
        {
            "window_start": [a for a, _ in windows],
            "window_end": [b for _, b in windows],
            "name": [batch_name(a, b) for a, b in windows],
        }
    )
    cur.register("_windows", frame)
    cur.execute(
        "INSERT INTO batches (workspace_id, campaign_month, renewal_month, window_start, window_end, name)"
        " SELECT ?, ?, ?, window_start, window_end, name FROM _windows ON CONFLICT DO NOTHING",
        [workspace_id, add_months(month, -1), month],
    )
    cur.unregister("_windows")


def batch_stage(db: Database, workspace_id: int, month: dt.date) -> dict[str, Any]:
    need = package_need(db, workspace_id)
    with db.transaction() as cur:
        ensure_batches(cur, workspace_id, month)
        already = cur.execute(
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND batch_id IS NOT NULL",
            [workspace_id, month],
        ).fetchall()[0][0]
        room = max(0, need - already) if need else None
        available = cur.execute(
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND renewal_month = ?"
            " AND status = 'verified' AND batch_id IS NULL",
            [workspace_id, month],
        ).fetchall()[0][0]
        limit = available if room is None else min(room, available)
        cur.execute(
            """
            UPDATE contacts SET status = 'batched', batch_id = pick.batch_id, updated_at = now()
            FROM (
                SELECT s.id, b.id AS batch_id FROM (
                    SELECT id,
                           CASE WHEN purchase_date IS NULL
                                THEN (row_number() OVER (ORDER BY id) - 1) % 4
                                ELSE CASE WHEN day(purchase_date) <= 7 THEN 0
                                          WHEN day(purchase_date) <= 14 THEN 1
                                          WHEN day(purchase_date) <= 21 THEN 2 ELSE 3 END
                           END AS w,
                           row_number() OVER (PARTITION BY zip ORDER BY hash(id), id) AS zip_rank
                    FROM contacts
                    WHERE workspace_id = $wid AND renewal_month = $month
                      AND status = 'verified' AND batch_id IS NULL
                    ORDER BY zip_rank, hash(id), id
                    LIMIT $limit) s
                JOIN (SELECT id, row_number() OVER (ORDER BY window_start) - 1 AS w FROM batches
                      WHERE workspace_id = $wid AND renewal_month = $month) b ON b.w = s.w
            ) pick
            WHERE contacts.id = pick.id
            """,
            {"wid": workspace_id, "month": month, "limit": limit},
        )
        cur.execute(
            "UPDATE batches SET contact_count = coalesce((SELECT count(*) FROM contacts c"
            " WHERE c.batch_id = batches.id), 0) WHERE workspace_id = ? AND renewal_month = ?",
            [workspace_id, month],
        )
        sizes = cur.execute(
            "SELECT name, contact_count FROM batches WHERE workspace_id = ? AND renewal_month = ?"
            " ORDER BY window_start",
            [workspace_id, month],
        ).fetchall()
    return {
        "input": available,
        "output": limit,
        "package": need,
        "surplus": available - limit,
        "batches": {n: c for n, c in sizes},
    }


def list_batches(db: Database, scope: Any, month: dt.date | None = None) -> Any:
    where = f"{scope.filter('b.workspace_id')}" + (" AND b.renewal_month = ?" if month else "")
    return db.query(
        f"""SELECT b.id, w.name AS client, b.name, b.renewal_month, b.campaign_month,
                   b.window_start, b.window_end, b.status, b.contact_count, b.uploaded_count,
                   b.error, b.uploaded_at
            FROM batches b JOIN workspaces w ON w.id = b.workspace_id
            WHERE {where} ORDER BY b.renewal_month DESC, w.name, b.window_start""",
        [month] if month else None,
    )


def export_batch(db: Database, scope: Any, batch_id: int, out: IO[str]) -> int:
    """Stream one batch's contacts as formula-safe CSV."""
    wid = db.scalar("SELECT workspace_id FROM batches WHERE id = ?", [batch_id])
    if wid is None or not scope.allows(wid):
        raise PermissionError("No such batch.")
    return exports.stream_query(
        db,
        "SELECT first_name, last_name, email, address, city, state, zip, cell_phone,"
        " purchase_date, home_value, status, bison_lead_id FROM contacts WHERE batch_id = ?"
        " ORDER BY id",
        [batch_id],
        out,
    )


def delete_batches(
    db: Database,
    user: access.User,
    *,
    batch_id: int | None = None,
    workspace_id: int | None = None,
    month: dt.date | None = None,
) -> int:
    """Delete one batch, or all of a client's month; its contacts go back to `verified`.

    Uploaded batches are refused: revert the upload first."""
    access.require(user, "pipeline.run")
    if batch_id is not None:
        where, params = "id = ?", [batch_id]
    elif workspace_id is not None and month is not None:
        where, params = "workspace_id = ? AND renewal_month = ?", [workspace_id, month]
    else:
        raise ValueError("Say which batch, or which client and month.")
    with db.transaction() as cur:
        rows = cur.execute(
            f"SELECT id, name, uploaded_count FROM batches WHERE {where}", params
        ).fetchall()
        uploaded = [r[1] for r in rows if r[2]]
        if uploaded:
            raise ValueError(
                f"{', '.join(uploaded)} has leads in Email Bison; revert the upload before deleting."
            )
        ids = [r[0] for r in rows]
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        cur.execute(
            f"UPDATE contacts SET status = 'verified', batch_id = NULL WHERE batch_id IN ({marks})",
            ids,
        )
        cur.execute(f"DELETE FROM batches WHERE id IN ({marks})", ids)
        audit.record(
            cur,
            actor=user.email,
            action="batch.delete",
            entity="batch",
            entity_id=",".join(map(str, ids)),
            before=[r[1] for r in rows],
        )
    return len(ids)


def write_batch_csv(db: Database, scope: Any, batch_id: int, path: str | Path) -> int:
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        return export_batch(db, scope, batch_id, fh)
