"""The month board: every client's pipeline for one renewal month on one screen.

One row per active client: refined contacts the package needs, contacts imported from files and
pulled from the master database, how many passed the filters and verification, the four renewal
batches (1–7, 8–14, 15–21, 22–end) with their upload state, whether this Monday's evergreen batch
is attached, the gap to goal and the recommended pull (core/pipeline/gap.py), and the next step.
Worst first: the largest share of the need still missing, then the largest gap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import sqlalchemy as sa

from core.pipeline import gap as gap_core
from core.platform import settings
from core.platform.renewals import renewal_windows
from core.platform.scope import Scope
from core.platform.store import Database

PASSED_FILTER = ("filtered", "verifying", "verified", "invalid", "batched", "uploaded")
WINDOWS = ("w1", "w2", "w3", "w4")
WINDOW_LABELS = ("1–7", "8–14", "15–21", "22–end")
COLUMNS = {
    "workspace_id": pl.Int32,
    "client": pl.Utf8,
    "needed": pl.Int64,
    "imported": pl.Int64,
    "pulled": pl.Int64,
    "filtered": pl.Int64,
    "verified": pl.Int64,
    **{w: pl.Utf8 for w in WINDOWS},
    "batches_pending": pl.Int64,
    "evergreen": pl.Utf8,
    "gap": pl.Int64,
    "recommended_pull": pl.Int64,
    "next_step": pl.Utf8,
    "missing_share": pl.Float64,
}


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _batch_cell(status: str | None, contacts: int | None, uploaded: int | None) -> str:
    if status is None:
        return "no batch"
    n, up = int(contacts or 0), int(uploaded or 0)
    if status == "pending" and n == 0:
        return "empty"
    state = {
        "uploaded": "uploaded",
        "uploading": "uploading",
        "failed": "upload failed",
        "partially uploaded": f"partly uploaded ({up:,})",
    }.get(status, "not uploaded")
    return f"{n:,} · {state}"


def _evergreen(db: Database, scope: Scope, today: dt.date) -> dict[int, str]:
    """This Monday's evergreen step per client: the batch whose window starts
    `evergreen_lead_days` after Monday, and whether it was attached."""
    target = monday_of(today) + dt.timedelta(days=int(settings.get(db, "evergreen_lead_days")))
    rows = db.rows(
        f"""
        SELECT w.id, p.evergreen_campaign_id, b.id, b.name, b.status, e.updated_at
        FROM workspaces w
        LEFT JOIN pipeline_settings p ON p.workspace_id = w.id
        LEFT JOIN batches b ON b.workspace_id = w.id AND $target BETWEEN b.window_start AND b.window_end
        LEFT JOIN evergreen_updates e ON e.workspace_id = w.id AND e.batch_id = b.id
        WHERE w.active AND {scope.filter("w.id")}
        """,
        {"target": target},
    )
    out: dict[int, str] = {}
    for wid, campaign, batch_id, name, status, attached in rows:
        if campaign is None:
            out[wid] = "no evergreen campaign"
        elif batch_id is None:
            out[wid] = f"no batch for {target:%b %-d}"
        elif attached is not None:
            out[wid] = f"attached ({name})"
        elif status != "uploaded":
            out[wid] = f"waiting: {name} not uploaded"
        else:
            out[wid] = f"due: {name}"
    return out


def month_board(
    db: Database, scope: Scope, month: dt.date, *, today: dt.date | None = None
) -> pl.DataFrame:
    """One row per active client in scope for renewal `month`, worst first (see module doc)."""
    today = today or dt.date.today()
    clients = db.rows(
        f"SELECT id, name FROM workspaces WHERE active AND {scope.filter('id')} ORDER BY name"
    )
    if not clients:
        return pl.DataFrame(schema=COLUMNS)
    counts = {
        r[0]: r[1:]
        for r in db.rows(
            f"""
            SELECT workspace_id,
                   count(*) FILTER (WHERE source <> 'master_db'),
                   count(*) FILTER (WHERE source = 'master_db'),
                   count(*) FILTER (WHERE list_contains($passed, status)),
                   count(*) FILTER (WHERE list_contains($refined, status))
            FROM contacts WHERE renewal_month = $month AND {scope.filter()}
            GROUP BY 1
            """,
            {"month": month, "passed": list(PASSED_FILTER), "refined": list(gap_core.REFINED)},
        )
    }
    starts = [a for a, _ in renewal_windows(month)]
    batches: dict[tuple[int, dt.date], tuple] = {}
    for wid, start, status, n, uploaded in db.rows(
        f"""
        SELECT b.workspace_id, b.window_start, b.status, b.contact_count, b.uploaded_count
        FROM batches b WHERE b.renewal_month = ? AND {scope.filter("b.workspace_id")}
        """,
        [month],
    ):
        batches[(wid, start)] = (status, n, uploaded)
    evergreen = _evergreen(db, scope, today)
    available = master_available(db, [wid for wid, _ in clients])
    rows: list[dict[str, Any]] = []
    for wid, name in clients:
        imported, pulled, passed, verified = counts.get(wid, (0, 0, 0, 0))
        # the Pipeline page's Gap to goal figures: the plan capped at what the territory supplies
        g = gap_core.capped_plan(db, wid, month, available.get(wid))
        cells = [batches.get((wid, s), (None, None, None)) for s in starts]
        pending = sum(
            1
            for st, n, _ in cells
            if st in ("pending", "failed", "partially uploaded") and (n or 0) > 0
        )
        if g["raw_pending"] or g["filtered_pending"]:
            step = "Run pipeline"
        elif pending:
            step = "Upload pending"
        elif g["recommended_pull"]:
            step = "Fill the gap"
        else:
            step = "On track"
        rows.append(
            {
                "workspace_id": wid,
                "client": name,
                "needed": g["needed"],
                "imported": imported,
                "pulled": pulled,
                "filtered": passed,
                "verified": verified,
                **{w: _batch_cell(*c) for w, c in zip(WINDOWS, cells, strict=True)},
                "batches_pending": pending,
                "evergreen": evergreen.get(wid, ""),
                "gap": g["gap"],
                "recommended_pull": g["recommended_pull"],
                "next_step": step,
                "missing_share": round(g["gap"] / g["needed"], 4) if g["needed"] else 0.0,
            }
        )
    df = pl.DataFrame(rows, schema=COLUMNS)
    return df.sort(["missing_share", "gap", "client"], descending=[True, True, False])


def master_available(db: Database, workspace_ids: list[int]) -> dict[int, int]:
    """Contacts with an email in each client's ZIPs in the master database; empty when it is not
    set up or cannot be reached (the plan then counts only the contacts in hand)."""
    from core.pipeline import master_db

    if not workspace_ids or not master_db.configured(db):
        return {}
    try:
        eng = master_db.engine(db=db)
        try:
            return {
                wid: int(master_db.availability(db, wid, eng)["available"].sum())
                for wid in workspace_ids
            }
        finally:
            eng.dispose()
    except (master_db.MasterDbError, sa.exc.SQLAlchemyError):
        return {}  # unreachable or misconfigured: Gap to goal on the Pipeline page says why


def pull_plan(db: Database, workspace_id: int, month: dt.date) -> dict[str, Any]:
    """What Fill the gap would pull from the master database, before it runs: the recommended
    count, the source queries planned under `source_row_limit` (small ZIPs packed together, large
    ones paged) and how many contacts the territory has there. Raises MasterDbError when the
    master database is not set up or cannot be reached."""
    from core.pipeline import master_db

    if not master_db.configured(db):
        raise master_db.MasterDbError(
            "The master contacts database is not set up (Settings → Connections)."
        )
    avail = master_db.availability(db, workspace_id)
    total = int(avail["available"].sum()) if avail.height else 0
    want = int(gap_core.capped_plan(db, workspace_id, month, total)["recommended_pull"])
    limit = int(settings.get(db, "source_row_limit"))
    plan = master_db.plan_pulls(avail, limit)
    # The pull stops once it has enough: keep the queries it should run (more when some of the
    # people there were pulled for a client recently and are skipped).
    used, rows = [], 0
    for q in plan:
        if rows >= want:
            break
        pages = min(q["queries"], -(-(want - rows) // limit))
        used.append({**q, "queries": pages})
        rows += min(q["rows"], pages * limit)
    return {
        "want": want,
        "row_limit": limit,
        "available": total,
        "zips": avail.height,
        "queries": [
            {"zips": ", ".join(q["zips"]), "contacts": q["rows"], "queries": q["queries"]}
            for q in used
        ],
        "query_count": sum(q["queries"] for q in used),
        "short_by": max(0, want - total),
    }
