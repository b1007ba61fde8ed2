"""Jobs for sending-account actions (shared by the command line and the app's inbox)."""

from __future__ import annotations

from typing import Any

from core.accounts import access
from core.platform import jobs
from core.platform.scope import Scope
from core.platform.store import Database


def _user(params: dict[str, Any]) -> access.User:
    """The command line runs as the local operator."""
    actor = params.get("actor") or "system"
    return access.User(email=actor, role="admin", name=actor)


@jobs.job("inboxes.list")
def inboxes_list_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    from core.accounts import workspaces
    from core.campaigns import campaigns

    scope = Scope.all()
    if params.get("workspace"):
        wid = workspaces.id_by_name(db, params["workspace"])
        if wid is None:
            raise jobs.JobError(f"No client named {params['workspace']!r}.")
        scope = Scope.only([wid])
    df = campaigns.sender_accounts(db, scope, bounce_threshold=float(params.get("bounce", 0.03)))
    cols = ["id", "client", "email", "status", "daily_limit", "resumes_with", "warmup_enabled"]
    cols += ["sent", "bounce_rate", "flags"]
    return {"accounts": df.select(cols).to_dicts()}


@jobs.job("inboxes.act")
def inboxes_act_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    from core.campaigns import inboxes

    user = _user(params)
    try:
        accounts = inboxes.resolve_accounts(db, user, params.get("accounts") or [])
        progress.update("acting", 0, len(accounts), inboxes.LABELS.get(params["action"], ""))
        result = inboxes.inbox_action(
            db,
            user,
            accounts,
            params["action"],
            daily_limit=params.get("daily_limit"),
            reason=params.get("reason"),
        )
    except inboxes.InboxActionError as exc:
        raise jobs.JobError(str(exc)) from None
    return result.as_dict() | {"summary": result.summary()}


@jobs.job("campaigns.act")
def campaigns_act_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Pause, resume (after the preflight) or duplicate a campaign, by id or name."""
    from core.accounts import workspaces
    from core.campaigns import campaigns

    wid = workspaces.id_by_name(db, params.get("workspace") or "")
    if wid is None:
        raise jobs.JobError(f"No client named {params.get('workspace')!r}.")
    ref = str(params.get("campaign") or "").strip()
    rows = db.rows(
        "SELECT id FROM bison_campaigns WHERE workspace_id = ? AND (CAST(id AS VARCHAR) = ?"
        " OR lower(name) = lower(?)) ORDER BY id",
        [wid, ref, ref],
    )
    if len(rows) != 1:
        found = "no campaign" if not rows else f"{len(rows)} campaigns"
        raise jobs.JobError(f"{ref!r} names {found} of this client; use its Email Bison id.")
    try:
        row = campaigns.campaign_action(db, _user(params), wid, int(rows[0][0]), params["action"])
    except campaigns.CampaignActionError as exc:
        raise jobs.JobError(str(exc)) from None
    return {"id": row["id"], "name": row["name"], "status": row["status"]}


@jobs.job("bison_leads.find")
def bison_leads_find_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    from core.campaigns import leads

    df = leads.search_leads(db, Scope.all(), params.get("text") or "", limit=100)
    return {"leads": df.select("id", "client", "email", "campaign_status").to_dicts()}


@jobs.job("bison_leads.act")
def bison_leads_act_job(
    db: Database, params: dict[str, Any], progress: jobs.Progress
) -> dict[str, Any]:
    """Remove a lead (email or id) from a campaign (id or name), or attach or remove tags (ids or
    names), in Email Bison."""
    from core.campaigns import leads

    ref = str(params.get("lead") or "").strip()
    rows = db.rows(
        "SELECT workspace_id, id FROM bison_leads WHERE CAST(id AS VARCHAR) = ? OR lower(email) = lower(?)",
        [ref, ref],
    )
    if len(rows) != 1:
        found = "no lead" if not rows else f"{len(rows)} leads (of several clients)"
        raise jobs.JobError(f"{ref!r} names {found}; use the lead's Email Bison id.")
    wid, lead_id = int(rows[0][0]), int(rows[0][1])

    def one(table: str, value: str) -> int:
        got = db.rows(
            f"SELECT id FROM {table} WHERE workspace_id = ? AND (CAST(id AS VARCHAR) = ?"
            " OR lower(name) = lower(?))",
            [wid, value, value],
        )
        if len(got) != 1:
            kind = "campaign" if table == "bison_campaigns" else "tag"
            raise jobs.JobError(f"{value!r} names {len(got) or 'no'} {kind}(s) of this client.")
        return int(got[0][0])

    kw: dict[str, Any] = {}
    if params["action"] == "remove_from_campaign":
        kw["campaign_id"] = one("bison_campaigns", str(params.get("campaign") or ""))
    else:
        kw["tag_ids"] = [one("bison_tags", str(t)) for t in params.get("tags") or []]
    try:
        return leads.lead_action(db, _user(params), wid, lead_id, params["action"], **kw)
    except leads.LeadActionError as exc:
        raise jobs.JobError(str(exc)) from None
