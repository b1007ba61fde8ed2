"""Whether a pipeline run for a client and renewal month can succeed, and if not, why.

One function, `why_not`, read by the Pipeline page (the Run button is greyed with its answer)
and by the job behind `leadops pipeline run` (which refuses with the same words). A run always
ends with the upload stage, so it needs the upload campaign and Email Bison as well as work.
"""

from __future__ import annotations

import datetime as dt

from core.pipeline.batching import package_need
from core.pipeline.filters import run_scope
from core.pipeline.uploads import campaign_settings
from core.platform import connections, secrets
from core.platform.store import Database

STAGES = ("filter", "verify", "batch", "upload")


def pending_work(db: Database, workspace_id: int, month: dt.date) -> dict[str, int]:
    """What each stage would take in now: new contacts to filter, contacts to verify, verified
    contacts the package still has room for, contacts in batches not uploaded yet."""
    p = {"wid": workspace_id, "month": month}
    row = db.rows(
        f"""
        SELECT count(*) FILTER (WHERE c.status = 'raw' AND {run_scope(month)}),
               count(*) FILTER (WHERE c.renewal_month = $month
                                  AND c.status IN ('filtered', 'verifying')),
               count(*) FILTER (WHERE c.renewal_month = $month AND c.status = 'verified'
                                  AND c.batch_id IS NULL),
               count(*) FILTER (WHERE c.renewal_month = $month
                                  AND c.status IN ('batched', 'uploaded'))
        FROM contacts c WHERE c.workspace_id = $wid
        """,
        p,
    )[0]
    room = max(0, package_need(db, workspace_id) - int(row[3] or 0))
    to_upload = db.scalar(
        "SELECT coalesce(sum(contact_count - uploaded_count), 0) FROM batches"
        " WHERE workspace_id = $wid AND renewal_month = $month AND contact_count > uploaded_count",
        p,
    )
    return {
        "filter": int(row[0] or 0),
        "verify": int(row[1] or 0),
        "batch": min(int(row[2] or 0), room),
        "upload": int(to_upload or 0),
    }


def why_not(
    db: Database, workspace_id: int, month: dt.date, from_stage: str = "filter"
) -> str | None:
    """None when a run from `from_stage` can succeed; else the reason, in plain words."""
    if from_stage not in STAGES:
        return f"Stage {from_stage!r} is not one of {', '.join(STAGES)}."
    work = pending_work(db, workspace_id, month)
    if not any(work[s] for s in STAGES[STAGES.index(from_stage) :]):
        return (
            f"Nothing to process for {month:%B %Y}"
            + (f" from the {from_stage} stage" if from_stage != "filter" else "")
            + ": no new contacts, and nothing waiting to be verified, batched or uploaded."
            " Import contacts or pull them from the master database first."
        )
    if not campaign_settings(db, workspace_id).get("upload_campaign_id"):
        return (
            "No upload campaign chosen for this client: choose the campaign its batches are"
            " attached to under Pipeline → Run → Upload campaigns."
        )
    if not connections.bison_url(db):
        return "Email Bison is not connected: set its address under Settings → Connections."
    token = secrets.bison_token_name(workspace_id)
    if not db.scalar("SELECT count(*) FROM secret_refs WHERE name = ?", [token]):
        return "This client has no Email Bison token: add it under Settings → Email Bison tokens."
    return None


def why_not_all(db: Database, month: dt.date, from_stage: str = "filter") -> str | None:
    """None when the bulk run (every client with work pending, from `from_stage`) has something
    to do; else the reason, in plain words. A client that cannot run (no campaign, no token) is
    reported by the bulk run itself, client by client."""
    from core.pipeline import runs  # runs is the pipeline's entry point; it does not import us

    if from_stage == "upload":
        if not runs.workspaces_with_uploads_pending(db, month):
            return f"No batch for {month:%B %Y} is waiting to be uploaded, for any client."
    elif not runs.pending_workspaces(db, month):  # the clients the bulk run takes
        return (
            f"Nothing pending for {month:%B %Y} for any client: no new contacts, and nothing"
            " waiting to be verified, batched or uploaded."
        )
    if not connections.bison_url(db):
        return "Email Bison is not connected: set its address under Settings → Connections."
    return None
